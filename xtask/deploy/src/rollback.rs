//! `rollback`: back to the last release that passed verification (or the one `--to` names), never
//! blindly to the previous revision. It prints what it will change, asks unless `--yes`, and
//! refuses when the ledger has no earlier good release.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::aws::Platform;
use crate::deploy::{self, Context, Finish};
use crate::ledger::{self, Colour, Kind, Ledger, Outcome, Release};
use crate::notify::NoticeResult;
use crate::taskdef::short_name;
use crate::verify::Checks;
use crate::{lock, schema, time};

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub to: Option<String>,
    pub base_url: Option<String>,
    pub yes: bool,
    pub dry_run: bool,
    /// Only when [`unfinished`] finds this run's deploy left unfinished.
    pub if_unfinished: bool,
}

/// Whether `rollback --if-unfinished` has work: the newest release is a deploy by this run
/// (`actor` names the CI run) that never finished (the runner killed it: `in_progress`) or
/// ended failed or cancelled without the traffic back where it was. `Err` says why there is
/// nothing to do; a finished or someone else's release is never rolled back by the cleanup.
/// `live` is `None` for a rolling environment, `Some(None)` for a split blue/green listener.
pub fn unfinished<'r>(
    releases: &'r [Release],
    live: Option<Option<Colour>>,
    actor: &str,
) -> Result<&'r Release, String> {
    let Some(last) = releases.last() else {
        return Err("the ledger has no release".to_owned());
    };
    let named = format!("the newest release {} ({})", last.id, last.image_tag);
    if last.actor != actor {
        return Err(format!("{named} is {}'s, not this run's", last.actor));
    }
    if last.kind != Kind::Deploy {
        return Err(format!("{named} is a rollback"));
    }
    match last.result {
        Outcome::InProgress | Outcome::Failed | Outcome::Cancelled => {}
        other => return Err(format!("{named} finished: {}", other.as_str())),
    }
    match (live, last.blue_green.as_ref()) {
        // The traffic is where the deploy found it: the engine's own rollback got it back.
        (Some(Some(live)), Some(bg)) if live == bg.from => Err(format!(
            "{named} ended {}, and the traffic is on {live}, where it was before",
            last.result.as_str()
        )),
        // A rolling environment's engine rolls back by itself unless it was killed.
        (None, _) if last.result != Outcome::InProgress => Err(format!(
            "{named} ended {}: its own rollback ran",
            last.result.as_str()
        )),
        _ => Ok(last),
    }
}

pub async fn rollback<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    opts: &Options,
) -> Result<Finish> {
    let base_url = deploy::base_url(ctx.config, opts.base_url.as_deref())?;
    let env = ctx.config.environment.clone();
    if opts.dry_run {
        ctx.console.say(format!(
            "rollback {env}: dry run (the reads below run; nothing is changed)"
        ));
        let (target, live) = choose(ctx, opts.to.as_deref()).await?;
        schema::check_before_rollback(ctx, &base_url, &target.task_definitions, &live).await?;
        let c = ctx.console;
        c.say("then, without --dry-run:");
        c.call(
            true,
            format!(
                "dynamodb:PutItem {} if absent or expired (take the deploy lease; renewed while the run works)",
                ctx.config.lock_item()
            ),
        );
        c.call(
            true,
            format!(
                "dynamodb:PutItem {}<start time> (release ledger: in_progress)",
                ctx.config.release_items()
            ),
        );
        for (service, arn) in &target.task_definitions {
            c.call(
                true,
                format!(
                    "ecs:UpdateService cluster={} service={service} taskDefinition={}",
                    ctx.config.cluster,
                    short_name(arn)
                ),
            );
        }
        c.say(format!(
            "  would wait for the rollout, then GET {}/health until it answers 200 with git_sha {}",
            base_url, target.git_sha
        ));
        c.call(
            true,
            format!(
                "dynamodb:PutItem {}<start time> (release ledger: rolled_back_to)",
                ctx.config.release_items()
            ),
        );
        c.call(
            true,
            format!(
                "dynamodb:DeleteItem {} if ours (release the deploy lease)",
                ctx.config.lock_item()
            ),
        );
        return Ok(Finish::DryRun);
    }
    ctx.console.say(format!("rollback {env}"));
    let lock = lock::acquire(ctx.platform, ctx.config, &ctx.actor, "rollback").await?;
    let (platform, ttl) = (ctx.platform, crate::deploy::lease(ctx.config));
    let finish = lock
        .hold_while(platform, ttl, locked(ctx, opts, &base_url))
        .await;
    crate::deploy::release_lock(ctx, &lock).await;
    finish?
}

/// A rollback target whose image ECR no longer has (expired by a lifecycle rule) could never
/// start: refuse before any change (DescribeImages by digest).
async fn images_still_exist<P: Platform, C>(
    ctx: &Context<'_, P, C>,
    target: &Release,
) -> Result<()> {
    for app in &ctx.config.services {
        let Some(digest) = target.image_digests.get(&app.service) else {
            continue;
        };
        if ctx
            .platform
            .find_image_by_digest(&app.repository, digest)
            .await?
            .is_none()
        {
            bail!(
                "release {} ({}) can't come back: its image {}@{digest} is no longer in ECR (expired by the repository's lifecycle rule?): pick another release with `--to` from `cargo xtask status {}`, or deploy a known-good tag",
                target.id,
                target.image_tag,
                app.repository,
                ctx.config.environment
            );
        }
    }
    Ok(())
}

async fn locked<P: Platform, C: Checks>(
    ctx: &mut Context<'_, P, C>,
    opts: &Options,
    base_url: &str,
) -> Result<Finish> {
    let env = ctx.config.environment.clone();
    let (target, live) = choose(ctx, opts.to.as_deref()).await?;
    schema::check_before_rollback(ctx, base_url, &target.task_definitions, &live).await?;
    if !opts.yes && !(ctx.prompt)(&format!("roll {env} back to {}?", target.image_tag), &env)? {
        bail!("not confirmed: nothing was changed");
    }
    images_still_exist(ctx, &target).await?;
    let ledger = Ledger::new(ctx.platform, ctx.config);
    let started = time::now_ms();
    let mut release = Release {
        id: time::compact(started),
        kind: Kind::Rollback,
        environment: env.clone(),
        image_tag: target.image_tag.clone(),
        image_digests: target.image_digests.clone(),
        git_sha: target.git_sha.clone(),
        task_definitions: target.task_definitions.clone(),
        previous: live,
        actor: ctx.actor.clone(),
        started_ms: started,
        ended_ms: None,
        result: Outcome::InProgress,
        target: Some(target.id.clone()),
        detail: None,
        blue_green: None,
        steps: Vec::new(),
        // The same image: it knows what the target knew; the floor is read afresh next time.
        schema: target.schema.map(|s| ledger::Schema { floor: None, ..s }),
    };
    ledger.record(&release).await?;
    let sha = Some(target.git_sha.as_str()).filter(|s| !s.is_empty());
    let timeout = Duration::from_secs(ctx.config.rollout_timeout_secs);
    let restored = deploy::restore(ctx, &target.task_definitions, sha, base_url, timeout).await;
    release.ended_ms = Some(time::now_ms());
    let live = deploy::live_summary(ctx).await;
    let (finish, result, title) = match restored {
        Ok(()) => {
            release.result = Outcome::RolledBackTo;
            let title = format!(
                "rolled {env} back to {} ({}), verified, in {}",
                target.image_tag,
                target.revisions(),
                time::human(release.duration_secs().unwrap_or(0))
            );
            ctx.console.say(title.clone());
            (Finish::Verified, NoticeResult::RolledBack, title)
        }
        Err(e) => {
            release.result = Outcome::Failed;
            release.detail = Some(format!("{e:#}"));
            let text = format!(
                "rollback of {env} to {} failed: {e:#}; {live}; see docs/runbook.md",
                target.image_tag
            );
            (Finish::Failed(text.clone()), NoticeResult::Failure, text)
        }
    };
    if let Err(e) = ledger.record(&release).await {
        ctx.console.say(format!("warning: {e:#}"));
    }
    deploy::tell(ctx, &release, result, &title).await;
    Ok(finish)
}

/// What runs now, the release to go back to, and the plan printed for the person.
async fn choose<P: Platform, C: Checks>(
    ctx: &Context<'_, P, C>,
    to: Option<&str>,
) -> Result<(Release, BTreeMap<String, String>)> {
    let mut live = BTreeMap::new();
    for app in &ctx.config.services {
        let state = ctx
            .platform
            .describe_service(&ctx.config.cluster, &app.service)
            .await?;
        live.insert(app.service.clone(), state.task_definition);
    }
    let releases = Ledger::new(ctx.platform, ctx.config).releases().await?;
    let target = ledger::rollback_target(&releases, &live, to)?.clone();
    let c = ctx.console;
    c.say(format!(
        "target: release {} (image {}, git sha {}, verified {})",
        target.id,
        target.image_tag,
        if target.git_sha.is_empty() {
            "unknown"
        } else {
            &target.git_sha
        },
        target
            .ended_ms
            .map_or_else(|| "?".to_owned(), time::iso8601)
    ));
    for (service, arn) in &target.task_definitions {
        let now = live.get(service).map_or("(not running)", |a| short_name(a));
        c.say(format!("  {service}: {now} → {}", short_name(arn)));
    }
    Ok((target, live))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::{Fake, Rollout, arn};
    use crate::config;
    use crate::console::Console;
    use crate::ledger::release;
    use crate::verify::Health;

    /// What serves: the build of v1, the release the tests roll back to, on a database whose
    /// `/health` reports this schema floor (`None`: a build that doesn't report it).
    struct Healthy(Option<i64>);
    impl Checks for Healthy {
        async fn health(&self, _: &str) -> Result<Health> {
            Ok(Health {
                status: 200,
                git_sha: Some(format!("{:0>40}", 1)),
                known_migration: Some(3),
                schema_floor: self.0,
            })
        }
        fn e2e_preflight(&self) -> Result<()> {
            Ok(())
        }
        async fn e2e(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn smoke(&self, _: &str) -> Result<()> {
            Ok(())
        }
    }

    fn no(_: &str, _: &str) -> Result<bool> {
        Ok(false)
    }
    fn yes(_: &str, _: &str) -> Result<bool> {
        Ok(true)
    }

    /// Revisions 1 (v1, verified), 2 (v2, verified), 3 (v3, rolled back); 2 runs.
    async fn fixture() -> Fake {
        let fake = Fake::default()
            .with_service(
                "backend",
                "eventflow-backend",
                "backend",
                "r/eventflow-backend:v1",
            )
            .with_image("eventflow-backend", "sha256:v1", &["v1"])
            .with_image("eventflow-backend", "sha256:v2", &["v2"])
            .rollouts(&[Rollout::Completes(0)]);
        for rev in [2, 3] {
            let input = crate::taskdef::next_revision(
                &fake
                    .describe_task_definition(&arn("eventflow-backend", 1))
                    .await
                    .unwrap()
                    .0,
                &[],
                "backend",
                &format!("r/eventflow-backend:v{rev}"),
            )
            .unwrap();
            fake.register_task_definition(input).await.unwrap();
        }
        fake.update_service(
            "eventflow-staging",
            "backend",
            &arn("eventflow-backend", 2),
            None,
        )
        .await
        .unwrap();
        for r in [
            release(
                "20260101T000000.000Z",
                Kind::Deploy,
                "v1",
                1,
                Outcome::Verified,
            ),
            release(
                "20260102T000000.000Z",
                Kind::Deploy,
                "v2",
                2,
                Outcome::Verified,
            ),
            release(
                "20260103T000000.000Z",
                Kind::Deploy,
                "v3",
                3,
                Outcome::RolledBack,
            ),
        ] {
            let mut r = r;
            let rev: i32 = r.image_tag[1..].parse().unwrap();
            r.task_definitions
                .insert("backend".into(), arn("eventflow-backend", rev));
            r.git_sha = format!("{rev:0>40}");
            fake.set_release("eventflow-staging-deploy-state", "staging", &r);
        }
        fake.lock().calls.clear();
        fake
    }

    async fn run(
        fake: &Fake,
        opts: Options,
        prompt: &crate::console::Prompt,
    ) -> (Result<Finish>, Vec<String>) {
        run_on_floor(fake, opts, prompt, None).await
    }

    /// v1 knows migrations up to 3, v2 up to 4, v3 up to 5; each recorded the floor of its
    /// own migrations when verified, if `recorded`.
    fn record_migrations(fake: &Fake, recorded: bool) {
        for body in fake.releases("eventflow-staging-deploy-state") {
            let mut r: Release = serde_json::from_str(&body).unwrap();
            let known = r.image_tag[1..].parse::<i64>().unwrap() + 2;
            r.schema = Some(ledger::Schema {
                known_migration: known,
                floor: recorded.then_some(known),
            });
            fake.set_release("eventflow-staging-deploy-state", "staging", &r);
        }
    }

    async fn run_on_floor(
        fake: &Fake,
        opts: Options,
        prompt: &crate::console::Prompt,
        floor: Option<i64>,
    ) -> (Result<Finish>, Vec<String>) {
        let config = config::example();
        let console = Console::quiet();
        let notifier = crate::notify::Recording::default();
        let mut ctx = Context {
            config: &config,
            platform: fake,
            checks: &Healthy(floor),
            console: &console,
            prompt,
            cancel: tokio::sync::watch::channel(false).1,
            actor: "tester".into(),
            notifier: &notifier,
        };
        let finish = rollback(&mut ctx, &opts).await;
        (finish, console.lines())
    }

    #[tokio::test(start_paused = true)]
    async fn goes_back_to_the_last_verified_release_before_what_runs() {
        let fake = fixture().await;
        let (finish, lines) = run(
            &fake,
            Options {
                yes: true,
                ..Options::default()
            },
            &yes,
        )
        .await;
        assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
        assert_eq!(
            fake.service_task_definition("backend"),
            arn("eventflow-backend", 1)
        );
        assert!(
            lines.contains(&"  backend: eventflow-backend:2 → eventflow-backend:1".to_owned()),
            "{lines:?}"
        );
        let entry = fake
            .releases("eventflow-staging-deploy-state")
            .iter()
            .map(|v| serde_json::from_str::<Release>(v).unwrap())
            .find(|r| r.kind == Kind::Rollback)
            .unwrap();
        assert_eq!(entry.result, Outcome::RolledBackTo);
        assert_eq!(entry.target.as_deref(), Some("20260101T000000.000Z"));
        assert!(fake.lease("eventflow-staging-deploy-state").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_that_knows_the_schema_floor_rolls_back() {
        let fake = fixture().await;
        record_migrations(&fake, true);
        let yes_opts = Options {
            yes: true,
            ..Options::default()
        };
        // The database moved ahead (migration 4 from v2), and declared release 3 compatible.
        let (finish, lines) = run_on_floor(&fake, yes_opts, &yes, Some(3)).await;
        assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
        assert!(
            lines.contains(&"schema: release 20260101T000000.000Z (v1) knows migrations up to 3; the database's schema floor is 3, reported by https://staging.eventflow.example.com/health".to_owned()),
            "{lines:?}"
        );
        assert_eq!(
            fake.service_task_definition("backend"),
            arn("eventflow-backend", 1)
        );
        let entry = fake
            .releases("eventflow-staging-deploy-state")
            .iter()
            .map(|v| serde_json::from_str::<Release>(v).unwrap())
            .find(|r| r.kind == Kind::Rollback)
            .unwrap();
        assert_eq!(entry.result, Outcome::RolledBackTo);
        assert_eq!(
            entry.schema,
            Some(ledger::Schema {
                known_migration: 3,
                floor: None
            })
        );
    }

    /// Refused: exit 1 (an `Err`), nothing changed, the lease released, no ledger entry.
    fn assert_refused_before_any_change(fake: &Fake, finish: Result<Finish>, expected: &str) {
        let err = finish.unwrap_err().to_string();
        assert!(err.starts_with(expected), "{err}");
        assert!(
            err.ends_with("see docs/runbook.md#database-incidents"),
            "{err}"
        );
        assert!(
            !fake.writes().iter().any(|w| w.starts_with("ecs:")),
            "{:?}",
            fake.writes()
        );
        assert_eq!(
            fake.service_task_definition("backend"),
            arn("eventflow-backend", 2)
        );
        assert!(fake.lease("eventflow-staging-deploy-state").is_none());
        let releases = fake.releases("eventflow-staging-deploy-state");
        assert_eq!(releases.len(), 3, "no ledger entry for a refused rollback");
        assert!(
            !releases.iter().any(|r| r.contains(r#""kind":"rollback""#)),
            "{releases:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_below_the_schema_floor_is_refused_before_any_change() {
        let fake = fixture().await;
        record_migrations(&fake, true);
        let yes_opts = || Options {
            yes: true,
            ..Options::default()
        };
        // Migration 4 declares nothing: only a release that knows 4 can start.
        let (finish, _) = run_on_floor(&fake, yes_opts(), &yes, Some(4)).await;
        assert_refused_before_any_change(
            &fake,
            finish,
            "refusing to roll back: release 20260101T000000.000Z (v1) knows migrations up to 3, but the database's schema floor is 4, reported by https://staging.eventflow.example.com/health: its tasks would refuse to start on this schema, so nothing was changed; fix forward",
        );
        // /health doesn't say: the floor recorded when v2, what runs, was verified.
        let (finish, _) = run_on_floor(&fake, yes_opts(), &yes, None).await;
        assert_refused_before_any_change(
            &fake,
            finish,
            "refusing to roll back: release 20260101T000000.000Z (v1) knows migrations up to 3, but the database's schema floor is 4, recorded when release 20260102T000000.000Z was verified",
        );
        // The dry run refuses the same way, before showing what it would change.
        let (finish, _) = run_on_floor(
            &fake,
            Options {
                dry_run: true,
                ..Options::default()
            },
            &no,
            Some(4),
        )
        .await;
        assert!(
            finish
                .unwrap_err()
                .to_string()
                .starts_with("refusing to roll back")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_schema_floor_warns_and_rolls_back() {
        let fake = fixture().await;
        record_migrations(&fake, false);
        let (finish, lines) = run_on_floor(
            &fake,
            Options {
                yes: true,
                ..Options::default()
            },
            &yes,
            None,
        )
        .await;
        assert_eq!(finish.unwrap(), Finish::Verified, "{}", lines.join("\n"));
        assert!(
            lines.iter().any(|l| l.starts_with("warning: the database's schema floor is unknown (GET https://staging.eventflow.example.com/health does not report schema_floor, and the ledger has no floor recorded for what runs now): rolling back to release 20260101T000000.000Z (v1)")),
            "{lines:?}"
        );
        assert_eq!(
            fake.service_task_definition("backend"),
            arn("eventflow-backend", 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_whose_image_expired_from_ecr_is_refused_before_any_change() {
        let fake = fixture().await;
        fake.lock().images.retain(|(_, tag, _)| tag != "v1");
        let (finish, _) = run(
            &fake,
            Options {
                yes: true,
                ..Options::default()
            },
            &yes,
        )
        .await;
        let err = finish.unwrap_err().to_string();
        assert!(
            err.starts_with("release 20260101T000000.000Z (v1) can't come back: its image eventflow-backend@sha256:v1 is no longer in ECR"),
            "{err}"
        );
        assert!(
            !fake.writes().iter().any(|w| w.starts_with("ecs:")),
            "{:?}",
            fake.writes()
        );
        assert_eq!(
            fake.service_task_definition("backend"),
            arn("eventflow-backend", 2)
        );
        assert!(fake.lease("eventflow-staging-deploy-state").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn to_names_the_release_and_refusing_the_prompt_changes_nothing() {
        let fake = fixture().await;
        let (finish, _) = run(
            &fake,
            Options {
                to: Some("v3".into()),
                yes: true,
                ..Options::default()
            },
            &yes,
        )
        .await;
        assert!(
            finish
                .unwrap_err()
                .to_string()
                .contains("was never verified (result: rolled_back)")
        );
        let (finish, _) = run(
            &fake,
            Options {
                to: Some("v1".into()),
                ..Options::default()
            },
            &no,
        )
        .await;
        assert_eq!(
            finish.unwrap_err().to_string(),
            "not confirmed: nothing was changed"
        );
        assert_eq!(
            fake.service_task_definition("backend"),
            arn("eventflow-backend", 2)
        );
        assert!(
            !fake.writes().iter().any(|w| w.starts_with("ecs:")),
            "{:?}",
            fake.writes()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_earlier_good_release_it_refuses() {
        let fake = fixture().await;
        fake.update_service(
            "eventflow-staging",
            "backend",
            &arn("eventflow-backend", 1),
            None,
        )
        .await
        .unwrap();
        fake.lock().calls.clear();
        let (finish, _) = run(
            &fake,
            Options {
                yes: true,
                ..Options::default()
            },
            &yes,
        )
        .await;
        assert!(
            finish
                .unwrap_err()
                .to_string()
                .starts_with("no earlier verified release to roll back to")
        );
        assert!(!fake.writes().iter().any(|w| w.starts_with("ecs:")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dry_run_changes_nothing() {
        let fake = fixture().await;
        let (finish, lines) = run(
            &fake,
            Options {
                dry_run: true,
                ..Options::default()
            },
            &no,
        )
        .await;
        assert_eq!(finish.unwrap(), Finish::DryRun);
        assert!(fake.writes().is_empty());
        assert!(lines.iter().any(|l| l == "  would call ecs:UpdateService cluster=eventflow-staging service=backend taskDefinition=eventflow-backend:1"), "{lines:?}");
    }

    #[test]
    fn the_cleanup_rolls_back_only_this_runs_unfinished_deploy() {
        let me = "alice (GitHub Actions run 7)";
        let deploy = |result, live_on: Option<Colour>| {
            let mut r = release("02", Kind::Deploy, "v2", 2, result);
            r.actor = me.to_owned();
            r.blue_green = Some(ledger::BlueGreen {
                from: Colour::Blue,
                to: Colour::Green,
                promoted_from: None,
                force_unverified: false,
            });
            (
                vec![release("01", Kind::Deploy, "v1", 1, Outcome::Verified), r],
                live_on,
            )
        };
        // Killed mid-shift, or the traffic on the new colour when the runner stopped it.
        let (rs, _) = deploy(Outcome::InProgress, None);
        assert_eq!(unfinished(&rs, Some(None), me).unwrap().id, "02");
        assert_eq!(
            unfinished(&rs, Some(Some(Colour::Green)), me).unwrap().id,
            "02"
        );
        let (rs, _) = deploy(Outcome::Cancelled, None);
        assert_eq!(
            unfinished(&rs, Some(Some(Colour::Green)), me).unwrap().id,
            "02"
        );
        // The engine's own rollback already put the traffic back: nothing to do.
        let err = unfinished(&rs, Some(Some(Colour::Blue)), me).unwrap_err();
        assert!(err.contains("where it was before"), "{err}");
        // A healthy production is never rolled back by the cleanup.
        let (rs, _) = deploy(Outcome::Verified, None);
        let err = unfinished(&rs, Some(Some(Colour::Green)), me).unwrap_err();
        assert!(err.contains("finished: verified"), "{err}");
        // Another run's deploy is not this run's to roll back.
        let (rs, _) = deploy(Outcome::InProgress, None);
        let err = unfinished(&rs, Some(None), "bob (GitHub Actions run 8)").unwrap_err();
        assert!(err.contains("not this run's"), "{err}");
        assert!(unfinished(&[], Some(None), me).is_err());
        // Rolling: only a killed deploy (still in progress) needs the cleanup.
        let mut r = release("02", Kind::Deploy, "v2", 2, Outcome::InProgress);
        r.actor = me.to_owned();
        assert!(unfinished(std::slice::from_ref(&r), None, me).is_ok());
        r.result = Outcome::RolledBack;
        assert!(unfinished(std::slice::from_ref(&r), None, me).is_err());
    }
}
