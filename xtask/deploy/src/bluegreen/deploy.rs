//! The blue/green deploy: promote, deploy the idle colour, check it through the test listener,
//! shift and bake, keep the old colour for the rollback window, then scale it down.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use tokio::time::Instant;

use crate::aws::Platform;
use crate::config::{BlueGreenApp, Config};
use crate::console::{interrupted, is_interrupted};
use crate::deploy::{
    Context, Finish, check_tag, failed_before_change, lease, record, release_lock, take_lock, tell,
};
use crate::ledger::{BlueGreen, Colour, Kind, Ledger, Outcome, Release, Step};
use crate::lineage::{self, Git, GitCommand};
use crate::metrics::{self, MetricSource};
use crate::notify::NoticeResult;
use crate::promote::{self, Candidate};
use crate::rollout::{self, Waited};
use crate::taskdef::{self, short_name};
use crate::verify::{self, Checks};
use crate::{lock, time};

use super::lb::{modify, point_test, shift, show};
use super::targets::wait_healthy;
use super::{AppLb, DEFAULT_KEEP_OLD_SECS, Options, Topology, shift_steps, topology};

/// One app's part of the deploy.
struct Target {
    lb: AppLb,
    live_arn: String,
    live_desired: i32,
    live_image: Option<String>,
    /// The idle service as it was, to put back when the deploy stops before the shift.
    idle_arn: String,
    idle_desired: i32,
    next: RegisterTaskDefinitionInput,
    repository_uri: String,
}

/// Adds a step to the release and rewrites its ledger entry.
pub(super) async fn step<P: Platform, C>(
    ctx: &Context<'_, P, C>,
    ledger: &Ledger<'_, P>,
    release: &mut Release,
    what: impl Into<String>,
) {
    release.steps.push(Step {
        at_ms: time::now_ms(),
        what: what.into(),
    });
    record(ctx, ledger, release).await;
}

pub async fn deploy<P: Platform, C: Checks, M: MetricSource>(
    ctx: &mut Context<'_, P, C>,
    opts: &Options,
    metrics: &M,
) -> Result<Finish> {
    if ctx.config.promote_from.is_none() {
        bail!(
            "production has no staging to promote from: set `promote_from` in its configuration, or keep infrastructure/environments/staging/deploy.json"
        );
    }
    // Without a tag the candidate is what staging verified for this checkout's commit, or for
    // an ancestor with the same deployable tree (a merge commit no image carries).
    let tag = match opts.image_tag.clone() {
        Some(tag) => tag,
        None => candidate_of_head(ctx).await?,
    };
    check_tag(&tag)?;
    let env = ctx.config.environment.clone();
    if opts.dry_run {
        ctx.console.say(format!(
            "deploy {tag} to {env} (blue/green): dry run (the reads below run; nothing is changed)"
        ));
        let p = prepare(ctx, &tag, opts).await?;
        print_dry_run(ctx, opts, &p.topo, p.live, &p.candidate, &p.targets);
        return Ok(Finish::DryRun);
    }
    ctx.console
        .say(format!("deploy {tag} to {env} (blue/green)"));
    let lock = take_lock(ctx, &format!("deploy {tag}")).await?;
    let (platform, ttl) = (ctx.platform, lease(ctx.config));
    let outcome = lock
        .hold_while(platform, ttl, locked(ctx, &tag, opts, metrics))
        .await;
    release_lock(ctx, &lock).await;
    let (finish, after) = outcome??;
    if let Some(after) = after {
        keep_then_scale_down(ctx, opts, after).await;
    }
    Ok(finish)
}

/// Staging's release ledger, which production promotes from.
async fn staging_releases<P: Platform, C>(ctx: &Context<'_, P, C>) -> Result<Vec<Release>> {
    let upstream = ctx
        .config
        .promote_from
        .as_ref()
        .context("no staging to promote from")?;
    let staging_config = Config {
        environment: upstream.environment.clone(),
        ledger_prefix: upstream.ledger_prefix.clone(),
        ..ctx.config.clone()
    };
    Ledger::new(ctx.platform, &staging_config)
        .releases()
        .await
        .context("reading staging's release ledger")
}

/// The image tag of the newest release staging verified that this checkout's commit can
/// promote (crate::lineage); a one-line refusal naming the fix when there is none.
async fn candidate_of_head<P: Platform, C>(ctx: &Context<'_, P, C>) -> Result<String> {
    let git = Git::new(std::env::current_dir().context("reading the current directory")?);
    let head = git.read(&GitCommand::head()).await.context(
        "production's commit is this checkout's HEAD: run it in an EventFlow clone, or pass --image-tag <tag>",
    )?;
    ctx.console.say(format!(
        "no --image-tag: looking for the release staging verified for {head}"
    ));
    let staging = staging_releases(ctx).await?;
    let release = lineage::promotable(&git, ctx.console, &staging, &head).await?;
    Ok(release.image_tag.clone())
}

/// What a verified deploy leaves to do once the lock is free: scale the old colour down.
struct After {
    release: Release,
    old: Colour,
}

/// What the deploy found out before it changes anything.
struct Prepared {
    topo: Topology,
    live: Colour,
    candidate: Candidate,
    targets: Vec<Target>,
    /// Why the pre-deployment checks failed, when `--force-unverified` overrode them.
    forced: Option<String>,
    version: String,
}

/// Reads what runs, finds the candidate, runs the pre-deployment checks, and computes each
/// app's new revision; prints the plan.
async fn prepare<P: Platform, C: Checks>(
    ctx: &Context<'_, P, C>,
    tag: &str,
    opts: &Options,
) -> Result<Prepared> {
    let config = ctx.config;
    let c = ctx.console;
    let topo = topology(ctx.platform, config).await?;
    let Some(live) = topo.live()? else {
        bail!(
            "the production listener splits the traffic between the colours (a deploy stopped mid-shift): run `cargo xtask rollback production` first"
        );
    };
    let idle = live.other();
    let apps: Vec<BlueGreenApp> = topo.apps.iter().map(|a| a.app.clone()).collect();
    let candidate = promote::candidate(ctx.platform, &apps, tag).await?;
    let upstream = config
        .promote_from
        .clone()
        .context("no staging to promote from")?;
    let staging = staging_releases(ctx).await?;
    c.say("pre-deployment checks:");
    let forced = promote::prechecks(
        ctx.checks,
        c,
        &upstream,
        &staging,
        &candidate,
        opts.force_unverified,
    )
    .await?;
    let production = Ledger::new(ctx.platform, config).releases().await?;
    let version = promote::version_tag(&candidate, &production);
    let version = promote::free_version(ctx.platform, &apps, &candidate, version).await?;
    c.say(format!(
        "live colour: {live} (production listener); deploying {tag} as {version} to {idle}"
    ));
    let mut targets = Vec::new();
    for a in &topo.apps {
        let live_state = ctx
            .platform
            .describe_service(&config.cluster, a.service(live))
            .await?;
        let idle_state = ctx
            .platform
            .describe_service(&config.cluster, a.service(idle))
            .await?;
        let (current, tags) = ctx
            .platform
            .describe_task_definition(&live_state.task_definition)
            .await?;
        let image = &candidate.images[&a.app.name];
        let repository_uri =
            crate::aws::repository_uri(&image.registry_id, &config.region, &a.app.repository);
        let uri = format!("{repository_uri}:{version}");
        let (base, base_said) = crate::template::base_revision(
            ctx.platform,
            &current,
            a.app.template.as_deref(),
            &a.app.family,
        )
        .await?;
        let next = taskdef::next_revision(&base, &tags, &a.app.container, &uri)?;
        let live_image = taskdef::image_of(&current, &a.app.container).map(str::to_owned);
        c.say(format!(
            "{}: runs now on {} ({}): {} ({}), {} task(s)",
            a.app.name,
            live,
            a.service(live),
            taskdef::describe(&current),
            live_image.as_deref().unwrap_or("no image"),
            live_state.desired
        ));
        c.say(format!(
            "{}: will run on {} ({}): a new revision of {} with {uri}, {} task(s) (the idle service has {} now, {} task(s))",
            a.app.name,
            idle,
            a.service(idle),
            a.app.family,
            live_state.desired,
            short_name(&idle_state.task_definition),
            idle_state.desired
        ));
        c.say(format!("{}: {base_said}", a.app.name));
        for line in taskdef::diff(&current, &next) {
            c.say(format!("    {line}"));
        }
        targets.push(Target {
            lb: a.clone(),
            live_arn: live_state.task_definition,
            live_desired: live_state.desired,
            live_image,
            idle_arn: idle_state.task_definition,
            idle_desired: idle_state.desired,
            next,
            repository_uri,
        });
    }
    Ok(Prepared {
        topo,
        live,
        candidate,
        targets,
        forced,
        version,
    })
}

/// Everything that happens while the lock is held.
async fn locked<P: Platform, C: Checks, M: MetricSource>(
    ctx: &mut Context<'_, P, C>,
    tag: &str,
    opts: &Options,
    metrics: &M,
) -> Result<(Finish, Option<After>)> {
    let env = ctx.config.environment.clone();
    let Prepared {
        topo,
        live,
        candidate,
        targets,
        forced,
        version,
    } = prepare(ctx, tag, opts).await?;
    let idle = live.other();
    let bake = Duration::from_secs(opts.bake.unwrap_or(ctx.config.bake_secs));
    let steps = shift_steps(opts.canary);
    ctx.console.say(format!(
        "then: /health and the smoke tests through {}, the traffic to {idle} in steps {steps:?} (%), each watched for {}s",
        test_url(ctx.config),
        bake.as_secs()
    ));
    if !opts.yes
        && !(ctx.prompt)(
            &format!("deploy {tag} ({version}) to {env} on {idle}?"),
            &env,
        )?
    {
        bail!("not confirmed: nothing was changed");
    }

    let ledger = Ledger::new(ctx.platform, ctx.config);
    let started = time::now_ms();
    let mut release = Release {
        id: time::compact(started),
        kind: Kind::Deploy,
        environment: env.clone(),
        image_tag: version.clone(),
        image_digests: targets
            .iter()
            .map(|t| {
                (
                    t.lb.app.name.clone(),
                    candidate.images[&t.lb.app.name].digest.clone(),
                )
            })
            .collect(),
        git_sha: candidate.git_sha.clone().unwrap_or_default(),
        task_definitions: BTreeMap::new(),
        previous: targets
            .iter()
            .map(|t| (t.lb.service(live).to_owned(), t.live_arn.clone()))
            .collect(),
        actor: ctx.actor.clone(),
        started_ms: started,
        ended_ms: None,
        result: Outcome::InProgress,
        target: None,
        detail: forced
            .clone()
            .map(|why| format!("--force-unverified: {why}")),
        blue_green: Some(BlueGreen {
            from: live,
            to: idle,
            promoted_from: Some(tag.to_owned()),
            force_unverified: forced.is_some(),
        }),
        steps: Vec::new(),
        schema: None,
    };
    ledger.record(&release).await?;
    ctx.console.call(
        false,
        format!(
            "dynamodb:PutItem {} (release ledger: in_progress)",
            ledger.parameter(&release)
        ),
    );

    // Promotion, then the new revisions. A failure here changed nothing that runs.
    let apps: Vec<BlueGreenApp> = topo.apps.iter().map(|a| a.app.clone()).collect();
    let mut registered: BTreeMap<String, String> = BTreeMap::new();
    let mut failure = promote::tag_all(ctx.platform, ctx.console, &apps, &candidate, &version)
        .await
        .err()
        .map(|e| format!("{e:#}"));
    if failure.is_none() {
        step(
            ctx,
            &ledger,
            &mut release,
            format!("promoted {tag} as {version}"),
        )
        .await;
        for t in &targets {
            ctx.console.call(
                false,
                format!(
                    "ecs:RegisterTaskDefinition family={} image={}:{version}",
                    t.lb.app.family, t.repository_uri
                ),
            );
            match ctx.platform.register_task_definition(t.next.clone()).await {
                Ok(arn) => {
                    ctx.console
                        .say(format!("    registered {}", short_name(&arn)));
                    registered.insert(t.lb.app.name.clone(), arn);
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
    }
    if failure.is_none() && is_interrupted(&ctx.cancel) {
        failure = Some("interrupted (Ctrl-C) before any service was changed".to_owned());
    }
    if let Some(why) = failure {
        return Err(failed_before_change(ctx, &ledger, &mut release, &registered, tag, &why).await);
    }
    release.task_definitions = targets
        .iter()
        .map(|t| {
            (
                t.lb.service(idle).to_owned(),
                registered[&t.lb.app.name].clone(),
            )
        })
        .collect();
    let revisions = release.revisions();
    step(
        ctx,
        &ledger,
        &mut release,
        format!("registered {revisions}"),
    )
    .await;

    // The accepted-events rate before the first shift is counted from here (sources without
    // history, Prometheus, need this mark; a failed mark makes the bake blind, never unjudged).
    let watched = metrics::Watched {
        load_balancer: topo.load_balancer.clone(),
        target_groups: topo
            .apps
            .iter()
            .map(|a| a.target_group(idle).to_owned())
            .collect(),
        cluster: ctx.config.cluster.clone(),
    };
    if let Err(e) = metrics.mark(&watched, time::now_ms()).await {
        ctx.console.say(format!(
            "warning: reading the metrics before the rollout: {e:#} (the bake will fail as blind unless they can be read)"
        ));
    }

    // The idle colour: deploy, wait, health, smoke. A failure leaves the traffic where it is.
    if let Some(why) = start_idle(
        ctx,
        &ledger,
        &mut release,
        &topo,
        &targets,
        &registered,
        idle,
        opts,
    )
    .await
    {
        ctx.console
            .say(format!("deploy failed before any traffic moved: {why}"));
        put_idle_back(ctx, &targets, idle).await;
        return Ok((
            end(
                ctx,
                &ledger,
                &mut release,
                Outcome::RolledBack,
                format!(
                    "deploy of {tag} ({version}) to {env} failed on {idle}: {why}; the traffic never moved: {live} still serves production"
                ),
            )
            .await,
            None,
        ));
    }

    // The shift, step by step, each watched for the bake time.
    let timeout = Duration::from_secs(opts.timeout.unwrap_or(ctx.config.rollout_timeout_secs));
    for (i, share) in steps.into_iter().enumerate() {
        // The first step's healthy targets were the last check of start_idle; each later step
        // checks again (tasks may have died during the bake), and never shifts without them.
        let healthy = if i == 0 {
            Ok(())
        } else {
            wait_healthy(
                ctx.platform,
                ctx.console,
                &ctx.config.cluster,
                &topo,
                idle,
                Instant::now() + timeout,
                ctx.config.poll(),
                Some(&mut ctx.cancel),
            )
            .await
        };
        let shifted = match healthy {
            Ok(()) => shift(ctx, &topo, idle, share).await,
            Err(why) => Err(anyhow::anyhow!(why)),
        };
        let why = match shifted {
            Err(e) => Some(format!("shifting {share}% to {idle}: {e:#}")),
            Ok(()) => {
                step(
                    ctx,
                    &ledger,
                    &mut release,
                    format!("shifted {share}% of the traffic to {idle}"),
                )
                .await;
                if share == 100 {
                    verify::health_until(
                        ctx.checks,
                        ctx.console,
                        &ctx.config.base_url.clone(),
                        candidate.git_sha.as_deref(),
                        ctx.config.verify_timeout(),
                        ctx.config.poll().min(Duration::from_secs(5)),
                        &mut ctx.cancel,
                    )
                    .await
                    .err()
                } else {
                    None
                }
            }
        };
        let why = match why {
            Some(why) => Some(why),
            None => {
                let step = metrics::watch::Bake {
                    share,
                    colour: idle,
                    bake,
                    poll: ctx.config.poll(),
                };
                metrics::watch::watch(ctx.console, &mut ctx.cancel, metrics, &watched, &step)
                    .await
                    .err()
            }
        };
        if let Some(why) = why {
            ctx.console
                .say(format!("deploy failed after the shift: {why}"));
            ctx.console.say(format!(
                "shifting the traffic back to {live} (Ctrl-C does not stop this)"
            ));
            // One look at the old colour's targets, no wait: it served until the shift, and the
            // new colour has just failed.
            if let Err(why) = wait_healthy(
                ctx.platform,
                ctx.console,
                &ctx.config.cluster,
                &topo,
                live,
                Instant::now(),
                ctx.config.poll(),
                None,
            )
            .await
            {
                ctx.console
                    .say(format!("warning: shifting back all the same: {why}"));
            }
            let back = shift(ctx, &topo, live, 100).await;
            let (outcome, text) = match back {
                Ok(()) => {
                    step(
                        ctx,
                        &ledger,
                        &mut release,
                        format!("shifted the traffic back to {live}"),
                    )
                    .await;
                    (
                        Outcome::RolledBack,
                        format!(
                            "deploy of {tag} ({version}) to {env} failed: {why}; the traffic is back on {live}, which still runs {}",
                            names(&release.previous)
                        ),
                    )
                }
                Err(e) => (
                    Outcome::Failed,
                    format!(
                        "deploy of {tag} ({version}) to {env} failed: {why}; shifting the traffic back to {live} failed too: {e:#}; set the production listener's weights to {live} 100 by hand (see docs/runbook.md)"
                    ),
                ),
            };
            return Ok((end(ctx, &ledger, &mut release, outcome, text).await, None));
        }
    }
    if let Err(e) = point_test(ctx, &topo, live).await {
        ctx.console.say(format!(
            "warning: pointing the test listener at {live}: {e}"
        ));
    }
    if let Err(e) = promote::tag_all(
        ctx.platform,
        ctx.console,
        &apps,
        &candidate,
        promote::LATEST,
    )
    .await
    {
        ctx.console
            .say(format!("warning: moving `latest` to {version}: {e:#}"));
    }
    let text = format!(
        "deploy verified: {env} runs {tag} as {version} on {idle} ({}) in {}",
        release.revisions(),
        time::human(time::now_ms().saturating_sub(started) / 1000)
    );
    let finish = end(ctx, &ledger, &mut release, Outcome::Verified, text).await;
    Ok((finish, Some(After { release, old: live })))
}

/// Records how the release ended, notifies, and returns the finish.
async fn end<P: Platform, C>(
    ctx: &Context<'_, P, C>,
    ledger: &Ledger<'_, P>,
    release: &mut Release,
    outcome: Outcome,
    text: String,
) -> Finish {
    // A cancelled run is marked so after its rollback; it never exits 0. Its notice still says
    // what the rollback did.
    let cancelled = outcome != Outcome::Verified && is_interrupted(&ctx.cancel);
    release.result = if cancelled {
        Outcome::Cancelled
    } else {
        outcome
    };
    release.ended_ms = Some(time::now_ms());
    if outcome != Outcome::Verified {
        release.detail = Some(if cancelled {
            format!("cancelled (SIGINT/SIGTERM): {text}")
        } else {
            text.clone()
        });
    }
    record(ctx, ledger, release).await;
    let (finish, result) = match outcome {
        Outcome::Verified | Outcome::RolledBackTo => {
            ctx.console.say(text.clone());
            (Finish::Verified, NoticeResult::Success)
        }
        Outcome::RolledBack if !cancelled => {
            (Finish::RolledBack(text.clone()), NoticeResult::RolledBack)
        }
        Outcome::RolledBack => (Finish::Failed(text.clone()), NoticeResult::RolledBack),
        Outcome::Failed | Outcome::InProgress | Outcome::Cancelled => {
            (Finish::Failed(text.clone()), NoticeResult::Failure)
        }
    };
    tell(ctx, release, result, &text).await;
    finish
}

/// Deploys the new revisions to the idle colour at the live count, waits for them, points the
/// test listener at them, and checks `/health` and the smoke tests through it. `Some(reason)`
/// when one of them failed.
#[allow(clippy::too_many_arguments)] // each is one fact of the deploy
async fn start_idle<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    ledger: &Ledger<'_, P>,
    release: &mut Release,
    topo: &Topology,
    targets: &[Target],
    registered: &BTreeMap<String, String>,
    idle: Colour,
    opts: &Options,
) -> Option<String> {
    let cluster = ctx.config.cluster.clone();
    let mut started = std::collections::BTreeMap::new();
    for t in targets {
        let service = t.lb.service(idle);
        let arn = &registered[&t.lb.app.name];
        ctx.console.call(
            false,
            format!(
                "ecs:UpdateService cluster={cluster} service={service} taskDefinition={} desiredCount={}",
                short_name(arn),
                t.live_desired
            ),
        );
        // One call: the new revision starts at the live count, never at the idle one.
        match ctx
            .platform
            .update_service(&cluster, service, arn, Some(t.live_desired))
            .await
        {
            Ok(s) => {
                started.insert(service.to_owned(), s);
            }
            Err(e) => return Some(e.to_string()),
        }
    }
    step(
        ctx,
        ledger,
        release,
        format!("deployed to {idle} at the live task count"),
    )
    .await;
    let timeout = Duration::from_secs(opts.timeout.unwrap_or(ctx.config.rollout_timeout_secs));
    ctx.console.say(format!(
        "waiting for {idle} (every {}s, timeout {}s)",
        ctx.config.poll_secs,
        timeout.as_secs()
    ));
    let deadline = Instant::now() + timeout;
    for t in targets {
        let service = t.lb.service(idle).to_owned();
        let arn = &registered[&t.lb.app.name];
        let waited = rollout::wait(
            ctx.platform,
            ctx.console,
            &cluster,
            &service,
            arn,
            started.get(service.as_str()).and_then(Option::as_ref),
            deadline,
            ctx.config.poll(),
            Some(&mut ctx.cancel),
        )
        .await;
        match waited {
            Ok(Waited::Done) => {}
            Ok(Waited::Failed(why)) => return Some(format!("{service}: {why}")),
            Ok(Waited::TimedOut(last)) => {
                return Some(format!(
                    "{service}: the rollout did not complete within {}s (last: {last})",
                    timeout.as_secs()
                ));
            }
            Ok(Waited::Interrupted) => {
                return Some("interrupted (Ctrl-C) while waiting for the rollout".to_owned());
            }
            Err(e) => return Some(format!("{service}: {e:#}")),
        }
    }
    // COMPLETED says nothing about the load balancer: no listener sends the colour anything
    // before its targets pass the health checks.
    if let Err(why) = wait_healthy(
        ctx.platform,
        ctx.console,
        &cluster,
        topo,
        idle,
        deadline,
        ctx.config.poll(),
        Some(&mut ctx.cancel),
    )
    .await
    {
        return Some(why);
    }
    if let Err(e) = point_test(ctx, topo, idle).await {
        return Some(format!("pointing the test listener at {idle}: {e}"));
    }
    let test_url = test_url(ctx.config);
    if topo.apps.iter().any(|a| a.app.health) {
        let checked = verify::health_until(
            ctx.checks,
            ctx.console,
            &test_url,
            (!release.git_sha.is_empty()).then_some(release.git_sha.as_str()),
            ctx.config.verify_timeout(),
            ctx.config.poll().min(Duration::from_secs(5)),
            &mut ctx.cancel,
        )
        .await;
        match checked {
            Ok(health) => release.schema = crate::ledger::Schema::reported(&health),
            Err(why) => return Some(why),
        }
    }
    ctx.console
        .say(format!("  $ cargo xtask test smoke --base-url {test_url}"));
    tokio::select! {
        result = ctx.checks.smoke(&test_url) => {
            if let Err(e) = result {
                return Some(format!("{e:#}"));
            }
        }
        () = interrupted(&mut ctx.cancel) => {
            return Some("interrupted (Ctrl-C) during the smoke tests".to_owned());
        }
    }
    // Again right before the first shift: a task may have died during the smoke tests.
    if let Err(why) = wait_healthy(
        ctx.platform,
        ctx.console,
        &cluster,
        topo,
        idle,
        Instant::now() + timeout,
        ctx.config.poll(),
        Some(&mut ctx.cancel),
    )
    .await
    {
        return Some(why);
    }
    step(
        ctx,
        ledger,
        release,
        format!("{idle} passed /health and the smoke tests"),
    )
    .await;
    None
}

/// Puts each idle service back on what it ran, at its old count (best effort: it takes no
/// traffic either way).
async fn put_idle_back<P: Platform, C>(ctx: &Context<'_, P, C>, targets: &[Target], idle: Colour) {
    let cluster = &ctx.config.cluster;
    for t in targets {
        let service = t.lb.service(idle);
        ctx.console.call(
            false,
            format!(
                "ecs:UpdateService cluster={cluster} service={service} taskDefinition={} desiredCount={} (put back)",
                short_name(&t.idle_arn),
                t.idle_desired
            ),
        );
        if let Err(e) = ctx
            .platform
            .update_service(cluster, service, &t.idle_arn, Some(t.idle_desired))
            .await
        {
            ctx.console.say(format!("warning: {e}"));
        }
    }
}

/// Keeps the old colour for the rollback window, then scales it to zero, under the lock and
/// only when the traffic is still on the new colour.
async fn keep_then_scale_down<P: Platform, C>(
    ctx: &mut Context<'_, P, C>,
    opts: &Options,
    after: After,
) {
    let keep = Duration::from_secs(opts.keep_old.unwrap_or(DEFAULT_KEEP_OLD_SECS));
    let old = after.old;
    ctx.console.say(format!(
        "keeping {old} running for {}s for an instant rollback (`cargo xtask rollback production`), then scaling it to 0",
        keep.as_secs()
    ));
    tokio::select! {
        () = tokio::time::sleep(keep) => {}
        () = interrupted(&mut ctx.cancel) => {
            ctx.console.say(format!(
                "interrupted: {old} keeps running (the next deploy replaces it; `cargo xtask status production` shows it)"
            ));
            return;
        }
    }
    let lock = match lock::acquire(
        ctx.platform,
        ctx.config,
        &ctx.actor,
        "scale down the old colour",
    )
    .await
    {
        Ok(lock) => lock,
        Err(e) => {
            ctx.console.say(format!("not scaling {old} down: {e:#}"));
            return;
        }
    };
    let done = lock
        .hold_while(ctx.platform, lease(ctx.config), scale_down(ctx, after))
        .await
        .and_then(|done| done);
    release_lock(ctx, &lock).await;
    if let Err(e) = done {
        ctx.console
            .say(format!("warning: scaling {old} down: {e:#}"));
    }
}

async fn scale_down<P: Platform, C>(ctx: &Context<'_, P, C>, after: After) -> Result<()> {
    let After { mut release, old } = after;
    let topo = topology(ctx.platform, ctx.config).await?;
    if topo.live()? != Some(old.other()) {
        ctx.console.say(format!(
            "not scaling {old} down: the traffic is no longer all on {} (rolled back?)",
            old.other()
        ));
        return Ok(());
    }
    for a in &topo.apps {
        let service = a.service(old);
        ctx.console.call(
            false,
            format!(
                "ecs:UpdateService cluster={} service={service} desiredCount=0 (rollback window over)",
                ctx.config.cluster
            ),
        );
        ctx.platform
            .scale_service(&ctx.config.cluster, service, 0)
            .await?;
    }
    let ledger = Ledger::new(ctx.platform, ctx.config);
    step(ctx, &ledger, &mut release, format!("scaled {old} to 0")).await;
    Ok(())
}

pub(super) fn test_url(config: &Config) -> String {
    config
        .test_url
        .clone()
        .unwrap_or_else(|| config.base_url.clone())
        .trim_end_matches('/')
        .to_owned()
}

fn names(tds: &BTreeMap<String, String>) -> String {
    tds.values()
        .map(|a| short_name(a))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_dry_run<P, C>(
    ctx: &Context<'_, P, C>,
    opts: &Options,
    topo: &Topology,
    live: Colour,
    candidate: &Candidate,
    targets: &[Target],
) {
    let c = ctx.console;
    let idle = live.other();
    c.say("then, without --dry-run:");
    c.call(
        true,
        format!(
            "dynamodb:PutItem {} if absent or expired (take the deploy lease; renewed while the run works)",
            ctx.config.lock_item()
        ),
    );
    for a in &topo.apps {
        c.call(
            true,
            format!(
                "ecr:PutImage repositoryName={} imageDigest={} imageTag=v<N>",
                a.app.repository, candidate.images[&a.app.name].digest
            ),
        );
    }
    for t in targets {
        c.call(
            true,
            format!(
                "ecs:RegisterTaskDefinition family={} image={}:v<N>",
                t.lb.app.family, t.repository_uri
            ),
        );
        c.call(
            true,
            format!(
                "ecs:UpdateService cluster={} service={} taskDefinition={}:(new revision) desiredCount={}",
                ctx.config.cluster,
                t.lb.service(idle),
                t.lb.app.family,
                t.live_desired
            ),
        );
    }
    c.say(format!(
        "  would wait for {idle} and its healthy targets, GET {}/health and run the smoke tests through the test listener; before each shift, healthy targets again",
        test_url(ctx.config)
    ));
    for share in shift_steps(opts.canary) {
        for a in &topo.apps {
            c.call(
                true,
                format!(
                    "{} {} forward {}",
                    modify(&a.production),
                    a.app.name,
                    show(&a.weights(idle, share))
                ),
            );
        }
        c.say(format!(
            "  would watch the error rate and the accepted events for {}s, then until the data covers its end",
            opts.bake.unwrap_or(ctx.config.bake_secs)
        ));
    }
    c.say(format!(
        "  would keep {live} for {}s, then scale it to 0; on a failure: the traffic back to {live}",
        opts.keep_old.unwrap_or(DEFAULT_KEEP_OLD_SECS)
    ));
    for t in targets {
        c.say(format!(
            "  {} rollback point: {} ({})",
            t.lb.service(live),
            short_name(&t.live_arn),
            t.live_image.as_deref().unwrap_or("?")
        ));
    }
}
