//! `rollback production`: the traffic back to the colour the last deploy replaced, scaling it
//! up first when it no longer runs.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::time::Instant;

use crate::aws::Platform;
use crate::deploy::{Context, Finish, git_sha, record, tell};
use crate::ledger::{BlueGreen, Colour, Kind, Ledger, Outcome, Release};
use crate::notify::NoticeResult;
use crate::promote;
use crate::rollout::{self, Waited};
use crate::taskdef;
use crate::verify::{self, Checks};
use crate::{lock, time};

use super::deploy::step;
use super::lb::{point_test, shift};
use super::targets::wait_healthy;
use super::{Topology, rollback_colour, topology};
use crate::deploy::{lease, release_lock};

/// `rollback production`: the traffic back to the colour the last deploy replaced.
pub async fn rollback<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    opts: &crate::rollback::Options,
) -> Result<Finish> {
    if opts.to.is_some() {
        bail!(
            "--to is for rolling environments: production rolls back to the colour the last deploy replaced; to go further back, deploy that tag: `cargo xtask deploy production --image-tag TAG`"
        );
    }
    let env = ctx.config.environment.clone();
    if opts.dry_run {
        ctx.console.say(format!(
            "rollback {env} (blue/green): dry run (the reads below run; nothing is changed)"
        ));
        let plan = rollback_plan(ctx).await?;
        schema_check(ctx, &plan).await?;
        ctx.console.say(format!(
            "then, without --dry-run: {}wait for {}'s healthy targets, shift every production forward to {} 100, point the test listener at {}, GET {}/health",
            if plan.scale_up { format!("scale {} up and wait, ", plan.target) } else { String::new() },
            plan.target,
            plan.target,
            plan.target.other(),
            ctx.config.base_url
        ));
        return Ok(Finish::DryRun);
    }
    ctx.console.say(format!("rollback {env} (blue/green)"));
    let lock = lock::acquire(ctx.platform, ctx.config, &ctx.actor, "rollback").await?;
    let (platform, ttl) = (ctx.platform, lease(ctx.config));
    let finish = lock
        .hold_while(platform, ttl, rollback_locked(ctx, opts))
        .await;
    release_lock(ctx, &lock).await;
    finish?
}

struct RollbackPlan {
    topo: Topology,
    target: Colour,
    from: Colour,
    /// Service → (task definition, desired count it needs).
    services: Vec<(String, String, i32)>,
    scale_up: bool,
    image_tag: String,
    git_sha: Option<String>,
    previous: BTreeMap<String, String>,
    digests: BTreeMap<String, String>,
}

async fn rollback_plan<P: Platform, C>(ctx: &Context<'_, P, C>) -> Result<RollbackPlan> {
    let config = ctx.config;
    let c = ctx.console;
    let topo = topology(ctx.platform, config).await?;
    let live = topo.live()?;
    let releases = Ledger::new(ctx.platform, config).releases().await?;
    let (target, last) = rollback_colour(&releases, live)?;
    let from = target.other();
    c.say(format!(
        "now: {} (the last release: {} {} on {}, {})",
        match live {
            Some(l) => format!("the traffic is on {l}"),
            None => "the traffic is split between blue and green".to_owned(),
        },
        match last.kind {
            Kind::Deploy => "deploy",
            Kind::Rollback => "rollback",
        },
        last.image_tag,
        last.blue_green.as_ref().map_or(from, |b| b.to),
        last.result.as_str()
    ));
    let mut plan = RollbackPlan {
        topo: topo.clone(),
        target,
        from,
        services: Vec::new(),
        scale_up: false,
        image_tag: String::new(),
        git_sha: None,
        previous: BTreeMap::new(),
        digests: BTreeMap::new(),
    };
    // Images ECR no longer has (expired by a lifecycle rule): tasks started from them can't pull.
    let mut expired = Vec::new();
    for a in &topo.apps {
        let now = ctx
            .platform
            .describe_service(&config.cluster, a.service(from))
            .await?;
        let back = ctx
            .platform
            .describe_service(&config.cluster, a.service(target))
            .await?;
        let (now_td, _) = ctx
            .platform
            .describe_task_definition(&now.task_definition)
            .await?;
        let (back_td, _) = ctx
            .platform
            .describe_task_definition(&back.task_definition)
            .await?;
        let image = taskdef::image_of(&back_td, &a.app.container)
            .unwrap_or("?")
            .to_owned();
        let need = now.desired.max(back.desired).max(1);
        let scaled_down = back.desired < need || back.running < need;
        c.say(format!(
            "  {}: runs now on {from}: {} ({})",
            a.app.name,
            taskdef::describe(&now_td),
            taskdef::image_of(&now_td, &a.app.container).unwrap_or("?")
        ));
        c.say(format!(
            "  {}: will run on {target}: {} ({}), {}/{} task(s) running{}",
            a.app.name,
            taskdef::describe(&back_td),
            image,
            back.running,
            back.desired,
            if scaled_down {
                format!(": scaled down, will scale up to {need} first")
            } else {
                String::new()
            }
        ));
        // The diff's own first line names a next revision; this one is registered already.
        c.say(format!(
            "      task definition {} → {}",
            taskdef::describe(&now_td),
            taskdef::describe(&back_td)
        ));
        let as_input = taskdef::next_revision(&back_td, &[], &a.app.container, &image)?;
        for line in taskdef::diff(&now_td, &as_input).into_iter().skip(1) {
            c.say(format!("      {line}"));
        }
        plan.scale_up |= scaled_down;
        if let Some(tag) = taskdef::tag_of(&image) {
            if a.app.health || plan.image_tag.is_empty() {
                plan.image_tag = tag.to_owned();
            }
            // A failed read must not block the instant rollback to a colour that still runs.
            match ctx.platform.find_image(&a.app.repository, tag).await {
                Ok(Some(found)) => {
                    if a.app.health {
                        plan.git_sha = git_sha(tag, &found);
                    }
                    plan.digests.insert(a.app.name.clone(), found.digest);
                }
                Ok(None) => expired.push(format!("{}:{tag}", a.app.repository)),
                Err(e) => c.say(format!("  warning: {e}")),
            }
        } else if let Some((_, digest)) = image.rsplit_once('@') {
            match ctx
                .platform
                .find_image_by_digest(&a.app.repository, digest)
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => expired.push(format!("{}@{digest}", a.app.repository)),
                Err(e) => c.say(format!("  warning: {e}")),
            }
        }
        plan.previous
            .insert(a.service(from).to_owned(), now.task_definition.clone());
        plan.services.push((
            a.service(target).to_owned(),
            back.task_definition.clone(),
            need,
        ));
    }
    // Shifting traffic back to tasks that still run needs no pull; scaling a colour up does.
    if plan.scale_up && !expired.is_empty() {
        bail!(
            "{target} can't come back: it must be scaled up, and ECR no longer has its image {} (expired by the repository's lifecycle rule?): deploy a known-good tag instead: `cargo xtask deploy {} --image-tag TAG`",
            expired.join(", "),
            config.environment
        );
    }
    for image in &expired {
        c.say(format!(
            "  warning: ECR no longer has {image}: {target}'s running tasks take the traffic, but none can be replaced from it"
        ));
    }
    Ok(plan)
}

/// Whether the colour going back can start on the schema, through the production URL (the
/// live colour answers).
async fn schema_check<P: Platform, C: Checks>(
    ctx: &Context<'_, P, C>,
    plan: &RollbackPlan,
) -> Result<()> {
    let target: BTreeMap<String, String> = plan
        .services
        .iter()
        .map(|(service, td, _)| (service.clone(), td.clone()))
        .collect();
    crate::schema::check_before_rollback(ctx, &ctx.config.base_url, &target, &plan.previous).await
}

async fn rollback_locked<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    opts: &crate::rollback::Options,
) -> Result<Finish> {
    let env = ctx.config.environment.clone();
    let plan = rollback_plan(ctx).await?;
    schema_check(ctx, &plan).await?;
    let target = plan.target;
    if !opts.yes
        && !(ctx.prompt)(
            &format!("roll {env} back to {target} ({})?", plan.image_tag),
            &env,
        )?
    {
        bail!("not confirmed: nothing was changed");
    }
    let ledger = Ledger::new(ctx.platform, ctx.config);
    let started = time::now_ms();
    let mut release = Release {
        id: time::compact(started),
        kind: Kind::Rollback,
        environment: env.clone(),
        image_tag: plan.image_tag.clone(),
        image_digests: plan.digests.clone(),
        git_sha: plan.git_sha.clone().unwrap_or_default(),
        task_definitions: plan
            .services
            .iter()
            .map(|(s, td, _)| (s.clone(), td.clone()))
            .collect(),
        previous: plan.previous.clone(),
        actor: ctx.actor.clone(),
        started_ms: started,
        ended_ms: None,
        result: Outcome::InProgress,
        target: None,
        detail: None,
        blue_green: Some(BlueGreen {
            from: plan.from,
            to: target,
            promoted_from: None,
            force_unverified: false,
        }),
        steps: Vec::new(),
        schema: None,
    };
    let releases = ledger.releases().await.unwrap_or_default();
    release.target = releases
        .iter()
        .rev()
        .find(|r| {
            r.kind == Kind::Deploy
                && r.result == Outcome::Verified
                && r.task_definitions == release.task_definitions
        })
        .map(|r| r.id.clone());
    ledger.record(&release).await?;
    let done = rollback_steps(ctx, &ledger, &mut release, &plan).await;
    let text = match &done {
        Ok(()) => format!(
            "rolled {env} back to {target} ({}, {}) in {}",
            plan.image_tag,
            release.revisions(),
            time::human(time::now_ms().saturating_sub(started) / 1000)
        ),
        Err(e) => format!("rollback of {env} to {target} failed: {e:#}; see docs/runbook.md"),
    };
    release.ended_ms = Some(time::now_ms());
    release.result = if done.is_ok() {
        Outcome::RolledBackTo
    } else {
        Outcome::Failed
    };
    if done.is_err() {
        release.detail = Some(text.clone());
    }
    record(ctx, &ledger, &release).await;
    let result = if done.is_ok() {
        NoticeResult::RolledBack
    } else {
        NoticeResult::Failure
    };
    if done.is_ok() {
        ctx.console.say(text.clone());
    }
    tell(ctx, &release, result, &text).await;
    Ok(if done.is_ok() {
        Finish::Verified
    } else {
        Finish::Failed(text)
    })
}

async fn rollback_steps<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    ledger: &Ledger<'_, P>,
    release: &mut Release,
    plan: &RollbackPlan,
) -> Result<()> {
    let cluster = ctx.config.cluster.clone();
    let target = plan.target;
    // One deadline for the scale-up and the target health: both are the wait before the shift.
    let deadline = Instant::now() + Duration::from_secs(ctx.config.rollout_timeout_secs);
    if plan.scale_up {
        for (service, _, need) in &plan.services {
            ctx.console.call(false, format!("ecs:UpdateService cluster={cluster} service={service} desiredCount={need} (scale up first)"));
            ctx.platform.scale_service(&cluster, service, *need).await?;
        }
        step(ctx, ledger, release, format!("scaled {target} up")).await;
        for (service, td, _) in &plan.services {
            match rollout::wait(
                ctx.platform,
                ctx.console,
                &cluster,
                service,
                td,
                None, // a scale-up of the same revision starts no deployment
                deadline,
                ctx.config.poll(),
                None,
            )
            .await?
            {
                Waited::Done => {}
                Waited::Failed(why) => bail!("{service}: {why}"),
                Waited::TimedOut(last) => bail!(
                    "{service}: did not scale up within {}s (last: {last}); the traffic stays where it was",
                    ctx.config.rollout_timeout_secs
                ),
                Waited::Interrupted => bail!("interrupted"),
            }
        }
        step(ctx, ledger, release, format!("{target} runs every task")).await;
    }
    // Running tasks are not yet targets the load balancer passed (a scale-up starts no
    // deployment): no shift before they are healthy.
    if let Err(why) = wait_healthy(
        ctx.platform,
        ctx.console,
        &cluster,
        &plan.topo,
        target,
        deadline,
        ctx.config.poll(),
        None,
    )
    .await
    {
        bail!(
            "{why}; the production listener is unchanged (see docs/runbook.md, \"unhealthy targets at shift\")"
        );
    }
    step(
        ctx,
        ledger,
        release,
        format!("{target}'s targets are healthy"),
    )
    .await;
    shift(ctx, &plan.topo, target, 100).await?;
    step(
        ctx,
        ledger,
        release,
        format!("shifted the traffic back to {target}"),
    )
    .await;
    let after = topology(ctx.platform, ctx.config).await?;
    if let Err(e) = point_test(ctx, &after, target.other()).await {
        ctx.console.say(format!(
            "warning: pointing the test listener at {}: {e}",
            target.other()
        ));
    }
    let (_keep, mut never) = tokio::sync::watch::channel(false);
    verify::health_until(
        ctx.checks,
        ctx.console,
        &ctx.config.base_url,
        plan.git_sha.as_deref(),
        ctx.config.verify_timeout(),
        ctx.config.poll().min(Duration::from_secs(5)),
        &mut never,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    for a in &plan.topo.apps {
        if let Some(digest) = plan.digests.get(&a.app.name)
            && let Err(e) = ctx
                .platform
                .tag_image(&a.app.repository, digest, promote::LATEST)
                .await
        {
            ctx.console
                .say(format!("warning: moving `latest` back: {e}"));
        }
    }
    Ok(())
}
