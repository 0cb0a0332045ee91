//! A scripted AWS for the tests: services whose rollouts go the way each test says (complete,
//! fail, get rolled back by the circuit breaker, never finish), ECR images, SSM parameters, and
//! errors injected into chosen calls. Every call is recorded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{Tag, TaskDefinition};
use tokio::sync::watch;

use super::{AwsError, AwsResult, Created, Deployment, ErrorKind, Image, Platform, ServiceState};

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
}

#[derive(Default)]
pub struct State {
    services: BTreeMap<String, Svc>,
    task_definitions: BTreeMap<String, (TaskDefinition, Vec<Tag>)>,
    images: Vec<(String, String, Image)>,
    pub params: BTreeMap<String, String>,
    pub calls: Vec<String>,
    /// Consumed one per UpdateService; `Completes(0)` when empty.
    rollouts: VecDeque<Rollout>,
    /// (call, error, how many more times, only after an UpdateService)
    failures: Vec<(String, AwsError, usize, bool)>,
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

impl Fake {
    /// A service running `family:revision` with `image`.
    pub fn with_service(self, service: &str, family: &str, container: &str, image: &str) -> Fake {
        {
            let mut s = self.lock();
            let td = TaskDefinition::builder()
                .task_definition_arn(arn(family, 1))
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
                .build();
            s.task_definitions.insert(arn(family, 1), (td, Vec::new()));
            s.services.insert(
                service.to_owned(),
                Svc {
                    task_definition: arn(family, 1),
                    previous: arn(family, 1),
                    rollout: Rollout::Completes(0),
                    polls: 0,
                },
            );
        }
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

    pub fn interrupt_after_polls(self, polls: usize, sender: watch::Sender<bool>) -> Fake {
        self.lock().interrupt_after_polls = Some((polls, sender));
        self
    }

    pub fn set_param(&self, name: &str, value: &str) {
        self.lock().params.insert(name.to_owned(), value.to_owned());
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// The calls that change something (everything but the describes and gets).
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !c.contains(":Describe") && !c.contains(":Get"))
            .collect()
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

fn deployment(status: &str, td: &str, rollout: &str, running: i32) -> Deployment {
    Deployment {
        status: status.to_owned(),
        task_definition: td.to_owned(),
        rollout_state: Some(rollout.to_owned()),
        rollout_reason: None,
        desired: 2,
        running,
        failed_tasks: 0,
        created_at: Some(1_700_000_000),
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
        let Some(svc) = s.services.get_mut(service) else {
            return Err(AwsError::new(
                ErrorKind::NotFound,
                "ecs:DescribeServices",
                format!("service {service} not found in cluster {cluster}"),
            ));
        };
        svc.polls += 1;
        let (new, old) = (svc.task_definition.clone(), svc.previous.clone());
        let settled = ServiceState {
            task_definition: new.clone(),
            desired: 2,
            running: 2,
            deployments: vec![deployment("PRIMARY", &new, "COMPLETED", 2)],
        };
        if new == old {
            return Ok(settled);
        }
        let in_progress = ServiceState {
            task_definition: new.clone(),
            desired: 2,
            running: 3,
            deployments: vec![
                deployment("PRIMARY", &new, "IN_PROGRESS", 1),
                deployment("ACTIVE", &old, "COMPLETED", 2),
            ],
        };
        Ok(match svc.rollout {
            Rollout::Completes(n) if svc.polls > n => settled,
            Rollout::Fails(n) if svc.polls > n => {
                let mut failed = deployment("PRIMARY", &new, "FAILED", 0);
                failed.rollout_reason = Some("tasks failed to start".to_owned());
                failed.failed_tasks = 3;
                ServiceState {
                    task_definition: new.clone(),
                    desired: 2,
                    running: 2,
                    deployments: vec![failed, deployment("ACTIVE", &old, "COMPLETED", 2)],
                }
            }
            Rollout::CircuitBreaker(n) if svc.polls > n => {
                // ECS puts the old revision back: the service is stable again, on the old one.
                svc.task_definition = old.clone();
                let mut failed = deployment("ACTIVE", &new, "FAILED", 0);
                failed.rollout_reason =
                    Some("ECS deployment circuit breaker: tasks failed to start.".to_owned());
                ServiceState {
                    task_definition: old.clone(),
                    desired: 2,
                    running: 2,
                    deployments: vec![deployment("PRIMARY", &old, "COMPLETED", 2), failed],
                }
            }
            _ => in_progress,
        })
    }

    async fn describe_task_definition(&self, arn: &str) -> AwsResult<(TaskDefinition, Vec<Tag>)> {
        self.enter("ecs:DescribeTaskDefinition", arn.to_owned())?;
        self.lock()
            .task_definitions
            .get(arn)
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
    ) -> AwsResult<()> {
        self.enter(
            "ecs:UpdateService",
            format!(
                "{cluster}/{service} {}",
                crate::taskdef::short_name(task_definition)
            ),
        )?;
        let mut s = self.lock();
        let rollout = s.rollouts.pop_front().unwrap_or(Rollout::Completes(0));
        s.updated = true;
        let svc = s.services.get_mut(service).expect("a scripted service");
        svc.previous = svc.task_definition.clone();
        svc.task_definition = task_definition.to_owned();
        svc.rollout = rollout;
        svc.polls = 0;
        Ok(())
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

    async fn get_parameter(&self, name: &str) -> AwsResult<Option<String>> {
        self.enter("ssm:GetParameter", name.to_owned())?;
        Ok(self.lock().params.get(name).cloned())
    }

    async fn put_parameter(&self, name: &str, value: &str, overwrite: bool) -> AwsResult<Created> {
        self.enter("ssm:PutParameter", format!("{name} overwrite={overwrite}"))?;
        let mut s = self.lock();
        if !overwrite && s.params.contains_key(name) {
            return Ok(Created::AlreadyExists);
        }
        s.params.insert(name.to_owned(), value.to_owned());
        Ok(Created::Yes)
    }

    async fn delete_parameter(&self, name: &str) -> AwsResult<()> {
        self.enter("ssm:DeleteParameter", name.to_owned())?;
        self.lock().params.remove(name);
        Ok(())
    }

    async fn parameters_under(&self, path: &str) -> AwsResult<Vec<(String, String)>> {
        self.enter("ssm:GetParametersByPath", path.to_owned())?;
        let prefix = format!("{path}/");
        Ok(self
            .lock()
            .params
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
