//! `deploy`: the rolling deploy of an image tag to an environment, as a state machine.
//!
//! 1. Record what runs now (each service's task definition) as the rollback point.
//! 2. Register a new revision of each task definition, only the image changed; print the diff.
//! 3. `UpdateService` to it (rolling, with the circuit breaker Terraform configures).
//! 4. Wait until the primary deployment runs the new revision and its rollout is COMPLETED.
//! 5. Verify: `/health` answers 200 with the image's git sha, then the end-to-end suite.
//! 6. Any failure in 3–5, a timeout or Ctrl-C: roll back to the recorded point, wait for it,
//!    verify it, and end non-zero saying what failed and what runs now.
//!
//! All of it under the environment's deploy lock, and recorded in the release ledger.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use tokio::time::Instant;

use crate::aws::{Image, Platform};
use crate::config::{App, Config};
use crate::console::{Cancel, Console, Prompt, interrupted, is_interrupted};
use crate::ledger::{Kind, Ledger, Outcome, Release};
use crate::notify::{self, DynNotifier, Notice, NoticeResult};
use crate::rollout::{self, Waited};
use crate::taskdef::{self, short_name};
use crate::verify::{self, Checks};
use crate::{lock, time};

/// The flags of `deploy`.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub image_tag: Option<String>,
    pub base_url: Option<String>,
    pub timeout: Option<u64>,
    pub yes: bool,
    pub dry_run: bool,
}

/// What a deploy or rollback works with.
pub struct Context<'a, P, C> {
    pub config: &'a Config,
    pub platform: &'a P,
    pub checks: &'a C,
    pub console: &'a Console,
    pub prompt: &'a Prompt,
    pub cancel: Cancel,
    pub actor: String,
    /// Told how every production deploy ends, each failure and each rollback.
    pub notifier: &'a dyn DynNotifier,
}

/// How a run that got under way ended. Errors before any change are `Err` instead.
#[derive(Debug, PartialEq, Eq)]
pub enum Finish {
    DryRun,
    Verified,
    /// Failed, and the previous release runs again, verified. The text says what failed.
    RolledBack(String),
    /// Failed, and the rollback did not succeed either. The text says what runs now.
    Failed(String),
}

/// One service's part of the deploy.
struct Target<'c> {
    app: &'c App,
    current_arn: String,
    current_image: Option<String>,
    next: RegisterTaskDefinitionInput,
    image: String,
    digest: String,
}

struct Plan<'c> {
    targets: Vec<Target<'c>>,
    /// What `/health` must report once the new release runs.
    git_sha: Option<String>,
    /// What it must report once the rollback point runs again (when that can be known).
    previous_sha: Option<String>,
}

pub async fn deploy<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    opts: &Options,
) -> Result<Finish> {
    let Some(tag) = opts.image_tag.as_deref() else {
        bail!(
            "deploying needs --image-tag TAG, a tag already in ECR: `cargo xtask deploy staging` without it builds and pushes HEAD's images first, then passes their tag here"
        );
    };
    check_tag(tag)?;
    let base_url = base_url(ctx.config, opts.base_url.as_deref())?;
    let timeout = Duration::from_secs(opts.timeout.unwrap_or(ctx.config.rollout_timeout_secs));
    let env = ctx.config.environment.clone();
    if opts.dry_run {
        ctx.console.say(format!(
            "deploy {tag} to {env}: dry run (the describe calls below run; nothing is changed)"
        ));
        let plan = plan(ctx, tag, true).await?;
        print_dry_run(ctx, &plan, &base_url, timeout);
        return Ok(Finish::DryRun);
    }
    if ctx.config.e2e {
        ctx.checks.e2e_preflight()?;
    }
    ctx.console.say(format!("deploy {tag} to {env}"));
    let lock = take_lock(ctx, &format!("deploy {tag}")).await?;
    let (platform, ttl) = (ctx.platform, lease(ctx.config));
    let finish = lock
        .hold_while(
            platform,
            ttl,
            locked(ctx, tag, &base_url, timeout, opts.yes),
        )
        .await;
    release_lock(ctx, &lock).await;
    finish?
}

/// How long the deploy lease lasts between renewals.
pub(crate) fn lease(config: &Config) -> Duration {
    Duration::from_secs(config.lock_ttl_secs)
}

/// Takes the environment's deploy lock, and says so.
pub(crate) async fn take_lock<P: Platform, C>(
    ctx: &Context<'_, P, C>,
    operation: &str,
) -> Result<lock::Lock> {
    let lock = lock::acquire(ctx.platform, ctx.config, &ctx.actor, operation).await?;
    ctx.console.call(
        false,
        format!(
            "dynamodb:PutItem {} {}/{} if absent or expired (deploy lease taken, renewed every {} s)",
            lock.table,
            lock.environment,
            lock::LOCK_KEY,
            (ctx.config.lock_ttl_secs / 3).max(1)
        ),
    );
    Ok(lock)
}

/// Releases the lock; a failure is only reported (the lock expires on its own).
pub(crate) async fn release_lock<P: Platform, C>(ctx: &Context<'_, P, C>, lock: &lock::Lock) {
    match lock.release(ctx.platform).await {
        Ok(()) => ctx.console.call(
            false,
            format!(
                "dynamodb:DeleteItem {} {}/{} if ours (deploy lease released)",
                lock.table,
                lock.environment,
                lock::LOCK_KEY
            ),
        ),
        Err(e) => ctx.console.say(format!("warning: {e:#}")),
    }
}

/// Everything that happens while the lock is held.
async fn locked<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    tag: &str,
    base_url: &str,
    timeout: Duration,
    yes: bool,
) -> Result<Finish> {
    let env = ctx.config.environment.clone();
    let plan = plan(ctx, tag, false).await?;
    if !yes && !(ctx.prompt)(&format!("deploy {tag} to {env}?"), &env)? {
        bail!("not confirmed: nothing was changed");
    }
    let ledger = Ledger::new(ctx.platform, ctx.config);
    let started = time::now_ms();
    let mut release = Release {
        id: time::compact(started),
        kind: Kind::Deploy,
        environment: env.clone(),
        image_tag: tag.to_owned(),
        image_digests: plan
            .targets
            .iter()
            .map(|t| (t.app.service.clone(), t.digest.clone()))
            .collect(),
        git_sha: plan.git_sha.clone().unwrap_or_default(),
        task_definitions: BTreeMap::new(),
        previous: plan
            .targets
            .iter()
            .map(|t| (t.app.service.clone(), t.current_arn.clone()))
            .collect(),
        actor: ctx.actor.clone(),
        started_ms: started,
        ended_ms: None,
        result: Outcome::InProgress,
        target: None,
        detail: None,
        blue_green: None,
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

    // 2. Register the new revisions. A failure here changed nothing in use: deregister what was
    // registered, so no orphan revision is left behind.
    let mut registered = BTreeMap::new();
    let mut failure = None;
    for t in &plan.targets {
        ctx.console.call(
            false,
            format!(
                "ecs:RegisterTaskDefinition family={} image={}",
                t.app.family, t.image
            ),
        );
        match ctx.platform.register_task_definition(t.next.clone()).await {
            Ok(arn) => {
                ctx.console
                    .say(format!("    registered {}", short_name(&arn)));
                registered.insert(t.app.service.clone(), arn);
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    if failure.is_none() && is_interrupted(&ctx.cancel) {
        failure = Some("interrupted (Ctrl-C) before any service was changed".to_owned());
    }
    if let Some(why) = failure {
        return Err(failed_before_change(ctx, &ledger, &mut release, &registered, tag, &why).await);
    }
    release.task_definitions = registered.clone();
    record(ctx, &ledger, &release).await;

    // 3–5.
    let failure = update_wait_verify(
        ctx,
        &plan,
        &registered,
        base_url,
        timeout,
        &mut release.schema,
    )
    .await;
    let Some(why) = failure else {
        release.result = Outcome::Verified;
        release.ended_ms = Some(time::now_ms());
        record(ctx, &ledger, &release).await;
        ctx.console.say(format!(
            "deploy verified: {env} runs {tag} ({}) in {}",
            release.revisions(),
            time::human(release.duration_secs().unwrap_or(0))
        ));
        return Ok(Finish::Verified);
    };

    // 6. Roll back to the recorded point.
    ctx.console.say(format!("deploy failed: {why}"));
    ctx.console.say(format!(
        "rolling back to {} (Ctrl-C does not stop a rollback)",
        names(&release.previous)
    ));
    let back = restore(
        ctx,
        &release.previous,
        plan.previous_sha.as_deref(),
        base_url,
        timeout,
    )
    .await;
    release.ended_ms = Some(time::now_ms());
    release.detail = Some(why.clone());
    let live = live_summary(ctx).await;
    let cancelled = is_interrupted(&ctx.cancel);
    let (finish, result) = match back {
        Ok(()) => {
            release.result = Outcome::RolledBack;
            (
                Finish::RolledBack(format!(
                    "deploy of {tag} to {env} failed: {why}; rolled back, verified: {live}"
                )),
                NoticeResult::RolledBack,
            )
        }
        Err(e) => {
            release.result = Outcome::Failed;
            release.detail = Some(format!("{why}; the rollback failed too: {e:#}"));
            (
                Finish::Failed(format!(
                    "deploy of {tag} to {env} failed: {why}; the rollback failed too: {e:#}; {live}; see docs/runbook.md"
                )),
                NoticeResult::Failure,
            )
        }
    };
    if cancelled {
        // Marked after the rollback, so the entry says how the cancelled run left things.
        release.result = Outcome::Cancelled;
        release.detail = Some(format!(
            "cancelled (SIGINT/SIGTERM): {}",
            release.detail.as_deref().unwrap_or_default()
        ));
    }
    record(ctx, &ledger, &release).await;
    if let Finish::RolledBack(text) | Finish::Failed(text) = &finish {
        tell(ctx, &release, result, text).await;
    }
    Ok(match finish {
        // A cancelled run never exits 0, whatever its rollback did.
        Finish::RolledBack(text) if cancelled => Finish::Failed(text),
        other => other,
    })
}

/// Steps 3 to 5; `Some(reason)` when one of them failed. `schema` gets what the new release's
/// `/health` reports of the migrations, for the ledger (a later rollback reads it).
async fn update_wait_verify<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    plan: &Plan<'_>,
    registered: &BTreeMap<String, String>,
    base_url: &str,
    timeout: Duration,
    schema: &mut Option<crate::ledger::Schema>,
) -> Option<String> {
    let cluster = ctx.config.cluster.clone();
    let mut started = BTreeMap::new();
    for t in &plan.targets {
        let arn = &registered[&t.app.service];
        ctx.console.call(
            false,
            format!(
                "ecs:UpdateService cluster={cluster} service={} taskDefinition={}",
                t.app.service,
                short_name(arn)
            ),
        );
        match ctx
            .platform
            .update_service(&cluster, &t.app.service, arn, None)
            .await
        {
            Ok(s) => {
                started.insert(t.app.service.clone(), s);
            }
            Err(e) => return Some(e.to_string()),
        }
    }
    ctx.console.say(format!(
        "waiting for the rollout (every {}s, timeout {}s)",
        ctx.config.poll_secs,
        timeout.as_secs()
    ));
    let deadline = Instant::now() + timeout;
    for t in &plan.targets {
        let arn = &registered[&t.app.service];
        let waited = rollout::wait(
            ctx.platform,
            ctx.console,
            &cluster,
            &t.app.service,
            arn,
            started.get(&t.app.service).and_then(Option::as_ref),
            deadline,
            ctx.config.poll(),
            Some(&mut ctx.cancel),
        )
        .await;
        match waited {
            Ok(Waited::Done) => {}
            Ok(Waited::Failed(why)) => return Some(format!("{}: {why}", t.app.service)),
            Ok(Waited::TimedOut(last)) => {
                return Some(format!(
                    "{}: the rollout did not complete within {}s (last: {last})",
                    t.app.service,
                    timeout.as_secs()
                ));
            }
            Ok(Waited::Interrupted) => {
                return Some("interrupted (Ctrl-C) while waiting for the rollout".to_owned());
            }
            Err(e) => return Some(format!("{}: {e:#}", t.app.service)),
        }
    }
    if plan.targets.iter().any(|t| t.app.health) {
        let checked = verify::health_until(
            ctx.checks,
            ctx.console,
            base_url,
            plan.git_sha.as_deref(),
            ctx.config.verify_timeout(),
            ctx.config.poll().min(Duration::from_secs(5)),
            &mut ctx.cancel,
        )
        .await;
        match checked {
            Ok(health) => *schema = crate::ledger::Schema::reported(&health),
            Err(why) => return Some(why),
        }
    }
    if ctx.config.e2e {
        ctx.console
            .say(format!("  $ cargo xtask test e2e --base-url {base_url}"));
        tokio::select! {
            result = ctx.checks.e2e(base_url) => {
                if let Err(e) = result {
                    return Some(format!("{e:#}"));
                }
            }
            () = interrupted(&mut ctx.cancel) => {
                return Some("interrupted (Ctrl-C) during the end-to-end suite".to_owned());
            }
        }
    }
    None
}

/// Puts every service back on `targets` (service → task-definition ARN), waits for it, and
/// checks `/health` (for `expected_sha` when it is known). Not interrupted by Ctrl-C.
pub(crate) async fn restore<P: Platform, C: Checks>(
    ctx: &Context<'_, P, C>,
    targets: &BTreeMap<String, String>,
    expected_sha: Option<&str>,
    base_url: &str,
    timeout: Duration,
) -> Result<()> {
    let cluster = &ctx.config.cluster;
    let mut started = BTreeMap::new();
    let apps: Vec<&App> = ctx
        .config
        .services
        .iter()
        .filter(|a| targets.contains_key(&a.service))
        .collect();
    for app in &apps {
        let target = &targets[&app.service];
        let state = ctx.platform.describe_service(cluster, &app.service).await?;
        if &state.task_definition == target
            && rollout::judge(&state, target, None) == rollout::Verdict::Done
        {
            ctx.console.say(format!(
                "  {}: already on {}",
                app.service,
                short_name(target)
            ));
            continue;
        }
        ctx.console.call(
            false,
            format!(
                "ecs:UpdateService cluster={cluster} service={} taskDefinition={} (rollback)",
                app.service,
                short_name(target)
            ),
        );
        let s = ctx
            .platform
            .update_service(cluster, &app.service, target, None)
            .await?;
        started.insert(app.service.clone(), s);
    }
    let deadline = Instant::now() + timeout;
    for app in &apps {
        let target = &targets[&app.service];
        let waited = rollout::wait(
            ctx.platform,
            ctx.console,
            cluster,
            &app.service,
            target,
            started.get(&app.service).and_then(Option::as_ref),
            deadline,
            ctx.config.poll(),
            None,
        )
        .await?;
        match waited {
            Waited::Done => {}
            Waited::Failed(why) => bail!("{}: {why}", app.service),
            Waited::TimedOut(last) => bail!(
                "{}: the rollback did not complete within {}s (last: {last})",
                app.service,
                timeout.as_secs()
            ),
            Waited::Interrupted => bail!("interrupted"),
        }
    }
    if apps.iter().any(|a| a.health) {
        let (_keep, mut never) = tokio::sync::watch::channel(false);
        verify::health_until(
            ctx.checks,
            ctx.console,
            base_url,
            expected_sha,
            ctx.config.verify_timeout(),
            ctx.config.poll().min(Duration::from_secs(5)),
            &mut never,
        )
        .await
        .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Step 1 and the plan: what runs now, the image to deploy, the new revisions and their diff.
async fn plan<'c, P: Platform, C: Checks>(
    ctx: &Context<'c, P, C>,
    tag: &str,
    dry_run: bool,
) -> Result<Plan<'c>> {
    let config = ctx.config;
    let cluster = &config.cluster;
    let read = |call: String| {
        if dry_run {
            ctx.console.say(format!("  read {call}"));
        }
    };
    let mut plan = Plan {
        targets: Vec::new(),
        git_sha: None,
        previous_sha: None,
    };
    for app in &config.services {
        read(format!(
            "ecs:DescribeServices cluster={cluster} services={}",
            app.service
        ));
        let state = ctx.platform.describe_service(cluster, &app.service).await?;
        read(format!(
            "ecs:DescribeTaskDefinition taskDefinition={} include=TAGS",
            short_name(&state.task_definition)
        ));
        let (current, tags) = ctx
            .platform
            .describe_task_definition(&state.task_definition)
            .await?;
        read(format!(
            "ecr:DescribeImages repositoryName={} imageTag={tag}",
            app.repository
        ));
        let image = ctx
            .platform
            .find_image(&app.repository, tag)
            .await?
            .with_context(|| {
                format!(
                    "image {}:{tag} is not in ECR: push it first, or pick a tag that `aws ecr describe-images --repository-name {}` lists",
                    app.repository, app.repository
                )
            })?;
        let uri = format!(
            "{}:{tag}",
            crate::aws::repository_uri(&image.registry_id, &config.region, &app.repository)
        );
        if let Some(template) = &app.template {
            read(format!(
                "ecs:DescribeTaskDefinition taskDefinition={template}"
            ));
        }
        let (base, base_said) = crate::template::base_revision(
            ctx.platform,
            &current,
            app.template.as_deref(),
            &app.family,
        )
        .await?;
        let next = taskdef::next_revision(&base, &tags, &app.container, &uri)?;
        let current_image = taskdef::image_of(&current, &app.container).map(str::to_owned);
        ctx.console.say(format!(
            "{}: runs {} ({}), rollback point recorded",
            app.service,
            taskdef::describe(&current),
            current_image.as_deref().unwrap_or("no image")
        ));
        ctx.console.say(format!("{}: {base_said}", app.service));
        for line in taskdef::diff(&current, &next) {
            ctx.console.say(format!("    {line}"));
        }
        if app.health {
            plan.git_sha = Some(git_sha(tag, &image).with_context(|| {
                format!(
                    "image {}:{tag} carries no git-sha tag, so `/health` can't confirm it runs: tag images with their full commit sha as well",
                    app.repository
                )
            })?);
            if let Some(previous) = &current_image {
                plan.previous_sha = previous_sha(ctx, app, previous, dry_run).await;
            }
        }
        plan.targets.push(Target {
            app,
            current_arn: state.task_definition.clone(),
            current_image,
            next,
            image: uri,
            digest: image.digest,
        });
    }
    if let Some(sha) = &plan.git_sha {
        ctx.console.say(format!("git sha of {tag}: {sha}"));
    }
    Ok(plan)
}

/// The git sha of what runs now, from its image's tags in ECR; `None` when it can't be known
/// (the rollback's health check then accepts any build that answers 200).
async fn previous_sha<P: Platform, C: Checks>(
    ctx: &Context<'_, P, C>,
    app: &App,
    image: &str,
    dry_run: bool,
) -> Option<String> {
    if taskdef::repository_uri(image).rsplit('/').next() != Some(app.repository.as_str()) {
        return None;
    }
    let found = match (taskdef::tag_of(image), image.split_once('@')) {
        (Some(tag), _) => {
            if dry_run {
                ctx.console.say(format!(
                    "  read ecr:DescribeImages repositoryName={} imageTag={tag}",
                    app.repository
                ));
            }
            ctx.platform
                .find_image(&app.repository, tag)
                .await
                .ok()?
                .map(|i| (tag, i))
        }
        (None, Some((_, digest))) => ctx
            .platform
            .find_image_by_digest(&app.repository, digest)
            .await
            .ok()?
            .map(|i| ("", i)),
        _ => None,
    }?;
    git_sha(found.0, &found.1)
}

/// A full 40-character commit sha among the image's tags (or the tag itself).
pub fn git_sha(tag: &str, image: &Image) -> Option<String> {
    let is_sha = |t: &str| t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit());
    std::iter::once(tag)
        .chain(image.tags.iter().map(String::as_str))
        .find(|t| is_sha(t))
        .map(str::to_owned)
}

fn print_dry_run<P, C>(
    ctx: &Context<'_, P, C>,
    plan: &Plan<'_>,
    base_url: &str,
    timeout: Duration,
) {
    let c = ctx.console;
    let config = ctx.config;
    let cluster = &config.cluster;
    c.say("then, without --dry-run:");
    c.call(
        true,
        format!(
            "dynamodb:PutItem {} if absent or expired (take the deploy lease; renewed while the run works)",
            config.lock_item()
        ),
    );
    c.call(
        true,
        format!(
            "dynamodb:PutItem {}<start time> (release ledger: in_progress)",
            config.release_items()
        ),
    );
    for t in &plan.targets {
        c.call(
            true,
            format!(
                "ecs:RegisterTaskDefinition family={} image={}",
                t.app.family, t.image
            ),
        );
    }
    for t in &plan.targets {
        c.call(
            true,
            format!(
                "ecs:UpdateService cluster={cluster} service={} taskDefinition={}:(new revision)",
                t.app.service, t.app.family
            ),
        );
    }
    c.say(format!(
        "  would poll ecs:DescribeServices every {}s until the primary deployment runs the new revision and is COMPLETED (timeout {}s)",
        config.poll_secs,
        timeout.as_secs()
    ));
    if plan.targets.iter().any(|t| t.app.health) {
        c.say(format!(
            "  would GET {} until it answers 200 with git_sha {}",
            Config::health_url(base_url),
            plan.git_sha.as_deref().unwrap_or("?")
        ));
    }
    if config.e2e {
        c.say(format!("  would run $ cargo xtask test e2e --base-url {base_url}   (JWT_SECRET and ADMIN_API_TOKEN from the environment)"));
    }
    c.call(
        true,
        format!(
            "dynamodb:PutItem {}<start time> (release ledger: verified)",
            config.release_items()
        ),
    );
    c.call(
        true,
        format!(
            "dynamodb:DeleteItem {} if ours (release the deploy lease)",
            config.lock_item()
        ),
    );
    c.say("on a failure, a timeout or Ctrl-C after UpdateService:");
    for t in &plan.targets {
        c.call(
            true,
            format!(
                "ecs:UpdateService cluster={cluster} service={} taskDefinition={} (rollback, image {})",
                t.app.service,
                short_name(&t.current_arn),
                t.current_image.as_deref().unwrap_or("?")
            ),
        );
    }
    c.say(format!(
        "  then wait for it and GET {} for git_sha {}",
        Config::health_url(base_url),
        plan.previous_sha
            .as_deref()
            .unwrap_or("(any: unknown for what runs now)")
    ));
}

/// `backend eventflow-backend:41 (…/eventflow-backend:aaa)` for every service, read from ECS.
pub(crate) async fn live_summary<P: Platform, C>(ctx: &Context<'_, P, C>) -> String {
    let mut parts = Vec::new();
    for app in &ctx.config.services {
        let part = match ctx
            .platform
            .describe_service(&ctx.config.cluster, &app.service)
            .await
        {
            Ok(state) => {
                let image = match ctx
                    .platform
                    .describe_task_definition(&state.task_definition)
                    .await
                {
                    Ok((td, _)) => taskdef::image_of(&td, &app.container)
                        .unwrap_or("?")
                        .to_owned(),
                    Err(_) => "?".to_owned(),
                };
                format!(
                    "{} runs {} ({image})",
                    app.service,
                    short_name(&state.task_definition)
                )
            }
            Err(e) => format!("{}: can't tell what runs ({e})", app.service),
        };
        parts.push(part);
    }
    format!("{} now: {}", ctx.config.environment, parts.join("; "))
}

/// Writes the ledger entry, warning (not failing) when it can't: a failed write must never stop a
/// rollback.
pub(crate) async fn record<P: Platform, C>(
    ctx: &Context<'_, P, C>,
    ledger: &Ledger<'_, P>,
    release: &Release,
) {
    match ledger.record(release).await {
        Ok(()) => ctx.console.call(
            false,
            format!(
                "dynamodb:PutItem {} (release ledger: {})",
                ledger.parameter(release),
                release.result.as_str()
            ),
        ),
        Err(e) => ctx.console.say(format!("warning: {e:#}")),
    }
}

/// A deploy that failed before any service changed: the revisions it registered are deregistered
/// (no orphan left behind), the ledger and the notice say so, and the error is one line.
pub(crate) async fn failed_before_change<P: Platform, C>(
    ctx: &Context<'_, P, C>,
    ledger: &Ledger<'_, P>,
    release: &mut Release,
    registered: &BTreeMap<String, String>,
    tag: &str,
    why: &str,
) -> anyhow::Error {
    for arn in registered.values() {
        ctx.console.call(
            false,
            format!(
                "ecs:DeregisterTaskDefinition taskDefinition={}",
                short_name(arn)
            ),
        );
        if let Err(e) = ctx.platform.deregister_task_definition(arn).await {
            ctx.console.say(format!("warning: {e}"));
        }
    }
    release.result = if is_interrupted(&ctx.cancel) {
        Outcome::Cancelled
    } else {
        Outcome::Failed
    };
    release.detail = Some(why.to_owned());
    release.ended_ms = Some(time::now_ms());
    record(ctx, ledger, release).await;
    let text = format!(
        "deploy of {tag} to {} failed before any service changed: {why}",
        release.environment
    );
    tell(ctx, release, NoticeResult::Failure, &text).await;
    anyhow::anyhow!("{text}")
}

/// Sends the notice of how `release` ended; a failed send is only reported.
pub(crate) async fn tell<P, C>(
    ctx: &Context<'_, P, C>,
    release: &Release,
    result: NoticeResult,
    title: &str,
) {
    let notice: Notice = notify::of_release(release, result, title.to_owned());
    notify::send(ctx.notifier, ctx.console, &notice).await;
}

fn names(tds: &BTreeMap<String, String>) -> String {
    tds.values()
        .map(|a| short_name(a))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ECR's rule for tags: up to 128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`.
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        bail!(
            "`{tag}` is not a valid image tag: up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-` (e.g. a commit sha)"
        );
    }
    Ok(())
}

pub fn base_url(config: &Config, given: Option<&str>) -> Result<String> {
    let url = given.unwrap_or(&config.base_url);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!(
            "--base-url must be an http:// or https:// URL, e.g. https://staging.eventflow.example.com"
        );
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests;
