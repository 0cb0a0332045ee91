//! A scripted AWS for the tests: services whose rollouts go the way each test says (complete,
//! fail, get rolled back by the circuit breaker, never finish), tasks that keep failing, target
//! groups whose targets stay unhealthy, ECR images, the deploy-state table (DynamoDB, its
//! conditions enforced), and errors injected into chosen calls. Every call is recorded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{Tag, TaskDefinition};
use tokio::sync::watch;

use super::{
    AwsError, AwsResult, Condition, Created, Deployment, ErrorKind, Forward, ForwardAt, Image,
    Listener, Platform, ServiceState, Started, StateItem, StoppedTask, TargetHealth, Written,
};

/// How ECS moves a service after an UpdateService.
#[derive(Clone, Copy, Debug)]
pub enum Rollout {
    /// COMPLETED after this many polls.
    Completes(usize),
    /// The new deployment's rollout turns FAILED after this many polls.
    Fails(usize),
    /// After this many polls the circuit breaker puts the previous revision back as primary.
    CircuitBreaker(usize),
    /// Never finishes.
    Stuck,
}

struct Svc {
    task_definition: String,
    previous: String,
    rollout: Rollout,
    polls: usize,
    desired: i32,
    /// How many deployments UpdateService has started: the current one is `ecs-svc/<n>`,
    /// created at `CREATED + 10 n`.
    deployments: i64,
    /// The primary deployment's failedTasks, and how much each DescribeServices adds to it.
    failed: i32,
    failing_per_poll: i32,
    events: Vec<String>,
    stopped: Vec<StoppedTask>,
}

const CREATED: i64 = 1_700_000_000;

fn deployment_id(n: i64) -> String {
    format!("ecs-svc/{n}")
}

#[derive(Default)]
pub struct State {
    services: BTreeMap<String, Svc>,
    task_definitions: BTreeMap<String, (TaskDefinition, Vec<Tag>)>,
    pub images: Vec<(String, String, Image)>,
    /// The deploy-state tables: (table, pk, sk) → item.
    pub items: BTreeMap<(String, String, String), StateItem>,
    pub calls: Vec<String>,
    /// Consumed one per UpdateService; `Completes(0)` when empty.
    rollouts: VecDeque<Rollout>,
    /// (call, error, how many more times, only after an UpdateService)
    failures: Vec<(String, AwsError, usize, bool)>,
    /// Load-balancer name → ARN, and its listeners.
    load_balancers: BTreeMap<String, String>,
    pub listeners: Vec<Listener>,
    target_groups: BTreeMap<String, String>,
    /// Target-group ARN → the service whose tasks it holds (`<app>-<colour>`).
    target_services: BTreeMap<String, String>,
    /// Service → how many more DescribeTargetHealth answers show its targets unhealthy
    /// (`usize::MAX`: for good).
    unhealthy_reads: BTreeMap<String, usize>,
    /// After each UpdateService, this many DescribeServices answer with the service as it was
    /// before (DescribeServices is eventually consistent).
    stale_reads: usize,
    stale_left: usize,
    /// Fires the sender after this many DescribeServices calls made after an UpdateService.
    interrupt_after_polls: Option<(usize, watch::Sender<bool>)>,
    polls_after_update: usize,
    updated: bool,
}

#[derive(Default)]
pub struct Fake {
    state: Mutex<State>,
}

pub const ACCOUNT: &str = "123456789012";

pub fn arn(family: &str, revision: i32) -> String {
    format!("arn:aws:ecs:eu-central-1:{ACCOUNT}:task-definition/{family}:{revision}")
}

/// Revision 1 of `family`: one container of `image`, 256 CPU units and 512 MiB.
fn first_revision(family: &str, container: &str, image: &str) -> TaskDefinition {
    TaskDefinition::builder()
        .family(family)
        .revision(1)
        .cpu("256")
        .memory("512")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name(container)
                .image(image)
                .build(),
        )
        .build()
}

impl Fake {
    /// A service running `family:1` with `image`.
    pub fn with_service(self, service: &str, family: &str, container: &str, image: &str) -> Fake {
        let fake = self.with_task_definition(first_revision(family, container, image));
        fake.lock().services.insert(
            service.to_owned(),
            Svc {
                task_definition: arn(family, 1),
                previous: arn(family, 1),
                rollout: Rollout::Completes(0),
                polls: 0,
                desired: 2,
                deployments: 0,
                failed: 0,
                failing_per_poll: 0,
                events: Vec::new(),
                stopped: Vec::new(),
            },
        );
        fake
    }

    /// Terraform's template: revision 1 of `family` with one container of `image`.
    pub fn with_template(self, family: &str, container: &str, image: &str) -> Fake {
        self.with_task_definition(first_revision(family, container, image))
    }

    /// A revision registered outside the deploy (Terraform's template), with its ARN from its
    /// family and revision.
    pub fn with_task_definition(mut self, mut td: TaskDefinition) -> Fake {
        let key = arn(td.family().unwrap_or_default(), td.revision());
        td.task_definition_arn = Some(key.clone());
        self.state
            .get_mut()
            .unwrap()
            .task_definitions
            .insert(key, (td, Vec::new()));
        self
    }

    pub fn with_image(self, repository: &str, digest: &str, tags: &[&str]) -> Fake {
        for tag in tags {
            self.lock().images.push((
                repository.to_owned(),
                (*tag).to_owned(),
                Image {
                    registry_id: ACCOUNT.to_owned(),
                    digest: digest.to_owned(),
                    tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                },
            ));
        }
        self
    }

    /// A blue/green load balancer named `name`: target groups `<prefix>-<app>-<colour>` for each
    /// app, a production listener on 443 with `live` at 100, and a test listener on 8443 on the
    /// other colour; the frontend's forward is the default action, every other app's a rule.
    pub fn with_load_balancer(self, name: &str, prefix: &str, apps: &[&str], live: &str) -> Fake {
        {
            let mut s = self.lock();
            let lb = format!(
                "arn:aws:elasticloadbalancing:eu-central-1:{ACCOUNT}:loadbalancer/app/{name}/50dc6c495c0c9188"
            );
            s.load_balancers.insert(name.to_owned(), lb);
            let tg = |app: &str, colour: &str| {
                format!(
                    "arn:aws:elasticloadbalancing:eu-central-1:{ACCOUNT}:targetgroup/{prefix}-{app}-{colour}/73e2d6bc24d8a067"
                )
            };
            for app in apps {
                for colour in ["blue", "green"] {
                    s.target_groups
                        .insert(format!("{prefix}-{app}-{colour}"), tg(app, colour));
                    s.target_services
                        .insert(tg(app, colour), format!("{app}-{colour}"));
                }
            }
            for (port, on) in [
                (443, live),
                (8443, if live == "blue" { "green" } else { "blue" }),
            ] {
                let arn = format!(
                    "arn:aws:elasticloadbalancing:eu-central-1:{ACCOUNT}:listener/app/{name}/50dc6c495c0c9188/{port}"
                );
                let forwards = apps
                    .iter()
                    .map(|app| Forward {
                        at: if *app == "frontend" {
                            ForwardAt::Listener(arn.clone())
                        } else {
                            ForwardAt::Rule(format!("{arn}/rule-{app}"))
                        },
                        weights: ["blue", "green"]
                            .iter()
                            .map(|c| (tg(app, c), if *c == on { 100 } else { 0 }))
                            .collect(),
                    })
                    .collect();
                s.listeners.push(Listener {
                    arn,
                    port,
                    forwards,
                });
            }
        }
        self
    }

    /// The weights of `app`'s forward on the listener on `port`, as (blue, green).
    pub fn weights(&self, port: u16, app: &str) -> (i32, i32) {
        let s = self.lock();
        let listener = s.listeners.iter().find(|l| l.port == port).unwrap();
        let forward = listener
            .forwards
            .iter()
            .find(|f| {
                f.weights
                    .iter()
                    .any(|(tg, _)| tg.contains(&format!("-{app}-")))
            })
            .unwrap();
        let of = |colour: &str| {
            forward
                .weights
                .iter()
                .find(|(tg, _)| tg.contains(&format!("-{app}-{colour}/")))
                .map_or(0, |(_, w)| *w)
        };
        (of("blue"), of("green"))
    }

    pub fn desired(&self, service: &str) -> i32 {
        self.lock().services[service].desired
    }

    pub fn set_desired(&self, service: &str, desired: i32) {
        self.lock().services.get_mut(service).unwrap().desired = desired;
    }

    /// The tags on images of `repository` with `digest`.
    pub fn tags_of(&self, repository: &str, digest: &str) -> Vec<String> {
        self.lock()
            .images
            .iter()
            .filter(|(r, _, i)| r == repository && i.digest == digest)
            .map(|(_, t, _)| t.clone())
            .collect()
    }

    /// `service`'s tasks keep failing to start: each DescribeServices shows `per_poll` more
    /// failedTasks on its primary deployment.
    pub fn failing_tasks(self, service: &str, per_poll: i32) -> Fake {
        self.lock()
            .services
            .get_mut(service)
            .expect("a scripted service")
            .failing_per_poll = per_poll;
        self
    }

    /// `service`'s event messages (newest first) and its stopped tasks (id, stoppedReason),
    /// newest first.
    pub fn with_history(self, service: &str, events: &[&str], stopped: &[(&str, &str)]) -> Fake {
        {
            let mut s = self.lock();
            let svc = s.services.get_mut(service).expect("a scripted service");
            svc.events = events.iter().map(|e| (*e).to_owned()).collect();
            svc.stopped = stopped
                .iter()
                .enumerate()
                .map(|(i, (id, reason))| StoppedTask {
                    id: (*id).to_owned(),
                    stopped_reason: (*reason).to_owned(),
                    container: Some("exit code 1".to_owned()),
                    stopped_at: Some(CREATED - i64::try_from(i).unwrap_or(0)),
                })
                .collect();
        }
        self
    }

    /// The targets of `service`'s target group fail their health checks for the next `reads`
    /// DescribeTargetHealth answers (`None`: for good), then pass.
    pub fn unhealthy_targets(self, service: &str, reads: Option<usize>) -> Fake {
        self.lock()
            .unhealthy_reads
            .insert(service.to_owned(), reads.unwrap_or(usize::MAX));
        self
    }

    pub fn rollouts(self, rollouts: &[Rollout]) -> Fake {
        self.lock().rollouts.extend(rollouts);
        self
    }

    /// The next `times` calls of `call` (e.g. `ecs:UpdateService`) fail with `kind`.
    pub fn failing(self, call: &str, kind: ErrorKind, message: &str, times: usize) -> Fake {
        self.lock().failures.push((
            call.to_owned(),
            AwsError::new(kind, call, message),
            times,
            false,
        ));
        self
    }

    /// Like [`Fake::failing`], for the calls made after the first UpdateService.
    pub fn failing_after_update(
        self,
        call: &str,
        kind: ErrorKind,
        message: &str,
        times: usize,
    ) -> Fake {
        self.lock().failures.push((
            call.to_owned(),
            AwsError::new(kind, call, message),
            times,
            true,
        ));
        self
    }

    /// The first `reads` DescribeServices after every UpdateService still show the service as
    /// it was.
    pub fn stale_reads(self, reads: usize) -> Fake {
        self.lock().stale_reads = reads;
        self
    }

    pub fn interrupt_after_polls(self, polls: usize, sender: watch::Sender<bool>) -> Fake {
        self.lock().interrupt_after_polls = Some((polls, sender));
        self
    }

    pub fn set_item(&self, table: &str, item: StateItem) {
        self.lock()
            .items
            .insert((table.to_owned(), item.pk.clone(), item.sk.clone()), item);
    }

    /// The items of `table` whose sort key begins with `sk_prefix`, in key order.
    pub fn items(&self, table: &str, sk_prefix: &str) -> Vec<StateItem> {
        self.lock()
            .items
            .iter()
            .filter(|((t, _, sk), _)| t == table && sk.starts_with(sk_prefix))
            .map(|(_, i)| i.clone())
            .collect()
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// The calls that change something (everything but the describes, lists, gets and queries), without
    /// the lease's renewals, whose number depends on how long a test's clock runs.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| {
                !c.contains(":Describe")
                    && !c.contains(":List")
                    && !c.contains(":Get")
                    && !c.contains(":Query")
                    && !c.starts_with("dynamodb:UpdateItem")
            })
            .collect()
    }

    /// Writes `release` into the ledger of `environment` (its deploy-state table `table`).
    pub fn set_release(&self, table: &str, environment: &str, release: &crate::ledger::Release) {
        self.set_item(
            table,
            StateItem {
                pk: environment.to_owned(),
                sk: format!("release#{}", release.id),
                body: serde_json::to_string(release).unwrap(),
                owner: None,
                expires_ms: None,
                ttl_secs: None,
            },
        );
    }

    /// The lease's holder (its JSON), if any run holds `table`'s lease.
    pub fn lease(&self, table: &str) -> Option<String> {
        self.items(table, "lock").first().map(|i| i.body.clone())
    }

    /// Every release's JSON in `table`, oldest first.
    pub fn releases(&self, table: &str) -> Vec<String> {
        self.items(table, "release#")
            .into_iter()
            .map(|i| i.body)
            .collect()
    }

    /// Puts a lease held by `holder` (the lock's JSON) into `table`, for `environment`.
    pub fn set_lease(&self, table: &str, environment: &str, holder: &serde_json::Value) {
        self.set_item(
            table,
            StateItem {
                pk: environment.to_owned(),
                sk: "lock".to_owned(),
                body: holder.to_string(),
                owner: holder["token"].as_str().map(str::to_owned),
                expires_ms: holder["expires_ms"].as_u64(),
                ttl_secs: None,
            },
        );
    }

    pub fn service_task_definition(&self, service: &str) -> String {
        self.lock().services[service].task_definition.clone()
    }

    pub fn task_definition_count(&self) -> usize {
        self.lock().task_definitions.len()
    }

    /// Records `call` and returns the injected failure, if one is due.
    fn enter(&self, call: &str, detail: String) -> AwsResult<()> {
        let mut s = self.lock();
        s.calls.push(format!("{call} {detail}"));
        let updated = s.updated;
        if let Some(f) = s
            .failures
            .iter_mut()
            .find(|f| f.0 == call && f.2 > 0 && (updated || !f.3))
        {
            f.2 -= 1;
            return Err(f.1.clone());
        }
        Ok(())
    }
}

fn deployment(status: &str, td: &str, rollout: &str, running: i32, n: i64) -> Deployment {
    Deployment {
        id: Some(deployment_id(n)),
        status: status.to_owned(),
        task_definition: td.to_owned(),
        rollout_state: Some(rollout.to_owned()),
        rollout_reason: None,
        desired: running.max(2),
        running,
        failed_tasks: 0,
        created_at: Some(CREATED + 10 * n),
    }
}

impl Platform for Fake {
    async fn describe_service(&self, cluster: &str, service: &str) -> AwsResult<ServiceState> {
        self.enter("ecs:DescribeServices", format!("{cluster}/{service}"))?;
        let mut s = self.lock();
        if s.updated {
            s.polls_after_update += 1;
            let polls = s.polls_after_update;
            if let Some((after, _)) = &s.interrupt_after_polls
                && polls >= *after
            {
                let (_, sender) = s.interrupt_after_polls.take().unwrap();
                let _ = sender.send(true);
            }
        }
        if !s.services.contains_key(service) {
            return Err(AwsError::new(
                ErrorKind::NotFound,
                "ecs:DescribeServices",
                format!("service {service} not found in cluster {cluster}"),
            ));
        }
        if s.stale_left > 0 {
            s.stale_left -= 1;
            let svc = &s.services[service];
            // The service as it was before the update: its previous deployment, settled.
            let n = (svc.deployments - 2).max(0);
            return Ok(ServiceState {
                task_definition: svc.previous.clone(),
                desired: 2,
                running: 2,
                deployments: vec![deployment("PRIMARY", &svc.previous, "COMPLETED", 2, n)],
                events: svc.events.clone(),
            });
        }
        let svc = s.services.get_mut(service).expect("checked above");
        svc.polls += 1;
        svc.failed += svc.failing_per_poll;
        let (new, old) = (svc.task_definition.clone(), svc.previous.clone());
        let desired = svc.desired;
        let seq = svc.deployments;
        let (failed, events) = (svc.failed, svc.events.clone());
        let mut primary = deployment("PRIMARY", &new, "COMPLETED", desired, seq);
        primary.desired = desired;
        primary.failed_tasks = failed;
        let settled = ServiceState {
            task_definition: new.clone(),
            desired,
            running: desired,
            deployments: vec![primary],
            events: events.clone(),
        };
        if new == old {
            return Ok(settled);
        }
        let mut rolling = deployment("PRIMARY", &new, "IN_PROGRESS", 1, seq);
        rolling.failed_tasks = failed;
        let in_progress = ServiceState {
            task_definition: new.clone(),
            desired: 2,
            running: 3,
            deployments: vec![rolling, deployment("ACTIVE", &old, "COMPLETED", 2, seq - 2)],
            events: events.clone(),
        };
        Ok(match svc.rollout {
            Rollout::Completes(n) if svc.polls > n => settled,
            Rollout::Fails(n) if svc.polls > n => {
                let mut failed = deployment("PRIMARY", &new, "FAILED", 0, seq);
                failed.rollout_reason = Some("tasks failed to start".to_owned());
                failed.failed_tasks = 3;
                ServiceState {
                    task_definition: new.clone(),
                    desired: 2,
                    running: 2,
                    deployments: vec![failed, deployment("ACTIVE", &old, "COMPLETED", 2, seq - 2)],
                    events,
                }
            }
            Rollout::CircuitBreaker(n) if svc.polls > n => {
                // ECS puts the old revision back: the service is stable again, on the old one.
                svc.task_definition = old.clone();
                svc.deployments = seq + 1;
                let mut failed = deployment("ACTIVE", &new, "FAILED", 0, seq);
                failed.rollout_reason =
                    Some("ECS deployment circuit breaker: tasks failed to start.".to_owned());
                ServiceState {
                    task_definition: old.clone(),
                    desired: 2,
                    running: 2,
                    // ECS's rollback is a deployment of its own, newer than the failed one.
                    deployments: vec![deployment("PRIMARY", &old, "COMPLETED", 2, seq + 1), failed],
                    events,
                }
            }
            _ => in_progress,
        })
    }

    async fn describe_task_definition(&self, arn: &str) -> AwsResult<(TaskDefinition, Vec<Tag>)> {
        self.enter("ecs:DescribeTaskDefinition", arn.to_owned())?;
        let s = self.lock();
        // A family name alone means its newest revision, as ECS answers it.
        let newest_of_family = || {
            s.task_definitions
                .values()
                .filter(|(td, _)| td.family() == Some(arn))
                .max_by_key(|(td, _)| td.revision())
        };
        s.task_definitions
            .get(arn)
            .or_else(newest_of_family)
            .cloned()
            .ok_or_else(|| {
                AwsError::new(
                    ErrorKind::NotFound,
                    "ecs:DescribeTaskDefinition",
                    format!("{arn} not found"),
                )
            })
    }

    async fn register_task_definition(
        &self,
        input: RegisterTaskDefinitionInput,
    ) -> AwsResult<String> {
        let family = input.family().unwrap_or_default().to_owned();
        self.enter("ecs:RegisterTaskDefinition", family.clone())?;
        let mut s = self.lock();
        let revision = s
            .task_definitions
            .values()
            .filter(|(td, _)| td.family() == Some(family.as_str()))
            .map(|(td, _)| td.revision())
            .max()
            .unwrap_or(0)
            + 1;
        let new_arn = arn(&family, revision);
        let td = TaskDefinition::builder()
            .task_definition_arn(&new_arn)
            .family(&family)
            .revision(revision)
            .set_container_definitions(input.container_definitions.clone())
            .set_cpu(input.cpu.clone())
            .set_memory(input.memory.clone())
            .build();
        s.task_definitions.insert(
            new_arn.clone(),
            (td, input.tags.clone().unwrap_or_default()),
        );
        Ok(new_arn)
    }

    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()> {
        self.enter("ecs:DeregisterTaskDefinition", arn.to_owned())?;
        self.lock().task_definitions.remove(arn);
        Ok(())
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        desired: Option<i32>,
    ) -> AwsResult<Option<Started>> {
        self.enter(
            "ecs:UpdateService",
            format!(
                "{cluster}/{service} {}{}",
                crate::taskdef::short_name(task_definition),
                desired.map_or_else(String::new, |d| format!(" desiredCount={d}"))
            ),
        )?;
        let mut s = self.lock();
        let rollout = s.rollouts.pop_front().unwrap_or(Rollout::Completes(0));
        s.updated = true;
        s.stale_left = s.stale_reads;
        let svc = s.services.get_mut(service).expect("a scripted service");
        svc.previous = svc.task_definition.clone();
        svc.task_definition = task_definition.to_owned();
        svc.rollout = rollout;
        svc.polls = 0;
        svc.deployments += 2; // room for a circuit breaker's own rollback deployment
        if let Some(desired) = desired {
            svc.desired = desired;
        }
        Ok(Some(Started {
            id: deployment_id(svc.deployments),
            created_at: Some(CREATED + 10 * svc.deployments),
        }))
    }

    async fn find_image(&self, repository: &str, tag: &str) -> AwsResult<Option<Image>> {
        self.enter("ecr:DescribeImages", format!("{repository}:{tag}"))?;
        Ok(self
            .lock()
            .images
            .iter()
            .find(|(r, t, _)| r == repository && t == tag)
            .map(|(_, _, i)| i.clone()))
    }

    async fn find_image_by_digest(
        &self,
        repository: &str,
        digest: &str,
    ) -> AwsResult<Option<Image>> {
        self.enter("ecr:DescribeImages", format!("{repository}@{digest}"))?;
        Ok(self
            .lock()
            .images
            .iter()
            .find(|(r, _, i)| r == repository && i.digest == digest)
            .map(|(_, _, i)| i.clone()))
    }

    async fn tag_image(&self, repository: &str, digest: &str, tag: &str) -> AwsResult<Created> {
        self.enter("ecr:PutImage", format!("{repository}@{digest} tag={tag}"))?;
        let mut s = self.lock();
        if tag == "latest" {
            // Excluded from the repository's tag immutability (infrastructure/modules/ecr).
            s.images
                .retain(|(r, t, i)| !(r == repository && t == tag && i.digest != digest));
            for (r, _, i) in s.images.iter_mut() {
                if r == repository && i.digest != digest {
                    i.tags.retain(|t| t != "latest");
                }
            }
        }
        if let Some((_, _, other)) = s
            .images
            .iter()
            .find(|(r, t, _)| r == repository && t == tag)
        {
            if other.digest == digest {
                return Ok(Created::AlreadyExists);
            }
            return Err(AwsError::new(
                ErrorKind::Other,
                "ecr:PutImage",
                format!("ImageTagAlreadyExistsException: tag {tag} is on another image"),
            ));
        }
        let Some(image) = s
            .images
            .iter()
            .find(|(r, _, i)| r == repository && i.digest == digest)
            .map(|(_, _, i)| i.clone())
        else {
            return Err(AwsError::new(
                ErrorKind::NotFound,
                "ecr:BatchGetImage",
                format!("no image {repository}@{digest}"),
            ));
        };
        for (r, _, i) in s.images.iter_mut() {
            if r == repository && i.digest == digest {
                i.tags.push(tag.to_owned());
            }
        }
        let mut tagged = image;
        tagged.tags.push(tag.to_owned());
        s.images
            .push((repository.to_owned(), tag.to_owned(), tagged));
        Ok(Created::Yes)
    }

    async fn scale_service(&self, cluster: &str, service: &str, desired: i32) -> AwsResult<()> {
        self.enter(
            "ecs:UpdateService",
            format!("{cluster}/{service} desiredCount={desired}"),
        )?;
        let mut s = self.lock();
        let svc = s.services.get_mut(service).expect("a scripted service");
        svc.desired = desired;
        Ok(())
    }

    async fn load_balancer_arn(&self, name: &str) -> AwsResult<String> {
        self.enter(
            "elasticloadbalancing:DescribeLoadBalancers",
            name.to_owned(),
        )?;
        self.lock()
            .load_balancers
            .get(name)
            .cloned()
            .ok_or_else(|| {
                AwsError::new(
                    ErrorKind::NotFound,
                    "elasticloadbalancing:DescribeLoadBalancers",
                    format!("LoadBalancerNotFound: {name}"),
                )
            })
    }

    async fn listeners(&self, load_balancer_arn: &str) -> AwsResult<Vec<Listener>> {
        self.enter(
            "elasticloadbalancing:DescribeListeners",
            super::arn_tail(load_balancer_arn).to_owned(),
        )?;
        Ok(self.lock().listeners.clone())
    }

    async fn target_group_arns(&self, names: &[String]) -> AwsResult<Vec<(String, String)>> {
        self.enter("elasticloadbalancing:DescribeTargetGroups", names.join(","))?;
        let s = self.lock();
        names
            .iter()
            .map(|n| {
                s.target_groups
                    .get(n)
                    .map(|arn| (n.clone(), arn.clone()))
                    .ok_or_else(|| {
                        AwsError::new(
                            ErrorKind::NotFound,
                            "elasticloadbalancing:DescribeTargetGroups",
                            format!("TargetGroupNotFound: {n}"),
                        )
                    })
            })
            .collect()
    }

    async fn target_health(&self, target_group_arn: &str) -> AwsResult<Vec<TargetHealth>> {
        self.enter(
            "elasticloadbalancing:DescribeTargetHealth",
            super::arn_tail(target_group_arn).to_owned(),
        )?;
        let mut s = self.lock();
        let service = s
            .target_services
            .get(target_group_arn)
            .cloned()
            .unwrap_or_default();
        // The service's tasks are its targets: as many as it wants.
        let count = s.services.get(&service).map_or(0, |svc| svc.desired);
        let unhealthy = match s.unhealthy_reads.get_mut(&service) {
            Some(left) if *left > 0 => {
                *left = left.saturating_sub(usize::from(*left != usize::MAX));
                true
            }
            _ => false,
        };
        Ok((0..count)
            .map(|i| TargetHealth {
                target: format!("10.0.1.{}:8080", i + 10),
                state: if unhealthy { "unhealthy" } else { "healthy" }.to_owned(),
                reason: unhealthy
                    .then(|| "Target.FailedHealthChecks: Health checks failed".to_owned()),
            })
            .collect())
    }

    async fn stopped_tasks(
        &self,
        cluster: &str,
        service: &str,
        limit: usize,
    ) -> AwsResult<Vec<StoppedTask>> {
        self.enter("ecs:ListTasks", format!("{cluster}/{service} STOPPED"))?;
        let stopped = self
            .lock()
            .services
            .get(service)
            .map(|svc| svc.stopped.clone())
            .unwrap_or_default();
        if !stopped.is_empty() {
            self.enter(
                "ecs:DescribeTasks",
                format!("{cluster} {} task(s)", stopped.len()),
            )?;
        }
        Ok(stopped.into_iter().take(limit).collect())
    }

    async fn set_forward(&self, at: &ForwardAt, weights: &[(String, i32)]) -> AwsResult<()> {
        let (call, arn) = match at {
            ForwardAt::Listener(arn) => ("elasticloadbalancing:ModifyListener", arn),
            ForwardAt::Rule(arn) => ("elasticloadbalancing:ModifyRule", arn),
        };
        let shown: Vec<String> = weights
            .iter()
            .map(|(tg, w)| format!("{}={w}", tg.split('/').nth(1).unwrap_or(tg)))
            .collect();
        self.enter(
            call,
            format!("{} {}", super::arn_tail(arn), shown.join(" ")),
        )?;
        let mut s = self.lock();
        for listener in &mut s.listeners {
            for forward in &mut listener.forwards {
                if &forward.at == at {
                    forward.weights = weights.to_vec();
                }
            }
        }
        Ok(())
    }

    async fn put_item(
        &self,
        table: &str,
        item: &StateItem,
        condition: &Condition,
    ) -> AwsResult<Written> {
        self.enter(
            "dynamodb:PutItem",
            format!("{table} {}/{}", item.pk, item.sk),
        )?;
        let mut s = self.lock();
        let key = (table.to_owned(), item.pk.clone(), item.sk.clone());
        if !holds(s.items.get(&key), condition) {
            return Ok(Written::ConditionFailed);
        }
        s.items.insert(key, item.clone());
        Ok(Written::Yes)
    }

    async fn get_item(&self, table: &str, pk: &str, sk: &str) -> AwsResult<Option<StateItem>> {
        self.enter("dynamodb:GetItem", format!("{table} {pk}/{sk}"))?;
        Ok(self
            .lock()
            .items
            .get(&(table.to_owned(), pk.to_owned(), sk.to_owned()))
            .cloned())
    }

    async fn renew_lease(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        owner: &str,
        expires_ms: u64,
    ) -> AwsResult<Written> {
        self.enter("dynamodb:UpdateItem", format!("{table} {pk}/{sk}"))?;
        let mut s = self.lock();
        match s
            .items
            .get_mut(&(table.to_owned(), pk.to_owned(), sk.to_owned()))
        {
            Some(item) if item.owner.as_deref() == Some(owner) => {
                item.expires_ms = Some(expires_ms);
                item.ttl_secs = Some(expires_ms / 1000 + 1);
                Ok(Written::Yes)
            }
            _ => Ok(Written::ConditionFailed),
        }
    }

    async fn delete_item(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        condition: &Condition,
    ) -> AwsResult<Written> {
        self.enter("dynamodb:DeleteItem", format!("{table} {pk}/{sk}"))?;
        let mut s = self.lock();
        let key = (table.to_owned(), pk.to_owned(), sk.to_owned());
        if !holds(s.items.get(&key), condition) {
            return Ok(Written::ConditionFailed);
        }
        s.items.remove(&key);
        Ok(Written::Yes)
    }

    async fn query_items(
        &self,
        table: &str,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> AwsResult<Vec<StateItem>> {
        self.enter("dynamodb:Query", format!("{table} {pk}/{sk_prefix}*"))?;
        Ok(self
            .lock()
            .items
            .iter()
            .rev()
            .filter(|((t, p, sk), _)| t == table && p == pk && sk.starts_with(sk_prefix))
            .take(limit)
            .map(|(_, item)| item.clone())
            .collect())
    }
}

/// DynamoDB's condition expressions on the item as it is.
fn holds(current: Option<&StateItem>, condition: &Condition) -> bool {
    match condition {
        Condition::Always => true,
        Condition::AbsentOrExpired { now_ms } => {
            current.is_none_or(|i| i.expires_ms.is_some_and(|e| e < *now_ms))
        }
        Condition::OwnedBy(owner) => current.is_some_and(|i| i.owner.as_ref() == Some(owner)),
    }
}
