//! The next task-definition revision: a base revision copied with only one container's image
//! changed. The base is Terraform's template when the environment has one ([`from_template`]), so a
//! secret, variable or size that Terraform changed ships with the next deploy; otherwise the
//! revision that runs. Nothing AWS generates is copied (it would be refused, or lie), nothing a
//! person set is dropped (a dropped field is a silent configuration change in production).

use anyhow::{Result, bail};
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{ContainerDefinition, Tag, TaskDefinition};

/// `TaskDefinition` fields that AWS sets when it registers a revision. Never copied.
pub const GENERATED: &[&str] = &[
    "task_definition_arn",
    "revision",
    "status",
    "requires_attributes",
    "compatibilities",
    "registered_at",
    "deregistered_at",
    "registered_by",
];

/// `TaskDefinition` fields that a person (Terraform) set. Copied as they are.
pub const COPIED: &[&str] = &[
    "container_definitions",
    "family",
    "task_role_arn",
    "execution_role_arn",
    "network_mode",
    "volumes",
    "placement_constraints",
    "runtime_platform",
    "requires_compatibilities",
    "cpu",
    "memory",
    "inference_accelerators",
    "pid_mode",
    "ipc_mode",
    "proxy_configuration",
    "ephemeral_storage",
    "enable_fault_injection",
];

/// Terraform's template revision as the base of the app's next revision: the template registers in
/// a family of its own (`<family>-template`), which no deploy writes and no deploy role may
/// retire, and the new revision goes into the app's `family`.
pub fn from_template(template: &TaskDefinition, family: &str) -> TaskDefinition {
    let mut base = template.clone();
    base.family = Some(family.to_owned());
    base
}

/// The revision to register: `current` (with its `tags`) with `container`'s image set to `image`.
pub fn next_revision(
    current: &TaskDefinition,
    tags: &[Tag],
    container: &str,
    image: &str,
) -> Result<RegisterTaskDefinitionInput> {
    let containers = current.container_definitions();
    if !containers.iter().any(|c| c.name() == Some(container)) {
        let names: Vec<_> = containers.iter().filter_map(|c| c.name()).collect();
        bail!(
            "task definition {} has no container `{container}` (it has: {}): fix `container` in the environment's deploy.json",
            describe(current),
            names.join(", ")
        );
    }
    let containers: Vec<ContainerDefinition> = containers
        .iter()
        .map(|c| {
            if c.name() == Some(container) {
                with_image(c, image)
            } else {
                c.clone()
            }
        })
        .collect();
    let input = RegisterTaskDefinitionInput::builder()
        .set_family(current.family.clone())
        .set_task_role_arn(current.task_role_arn.clone())
        .set_execution_role_arn(current.execution_role_arn.clone())
        .set_network_mode(current.network_mode.clone())
        .set_container_definitions(Some(containers))
        .set_volumes(current.volumes.clone())
        .set_placement_constraints(current.placement_constraints.clone())
        .set_requires_compatibilities(current.requires_compatibilities.clone())
        .set_cpu(current.cpu.clone())
        .set_memory(current.memory.clone())
        .set_tags(if tags.is_empty() {
            None
        } else {
            Some(tags.to_vec())
        })
        .set_pid_mode(current.pid_mode.clone())
        .set_ipc_mode(current.ipc_mode.clone())
        .set_proxy_configuration(current.proxy_configuration.clone())
        .set_inference_accelerators(current.inference_accelerators.clone())
        .set_ephemeral_storage(current.ephemeral_storage.clone())
        .set_runtime_platform(current.runtime_platform.clone())
        .set_enable_fault_injection(current.enable_fault_injection)
        .build()?;
    Ok(input)
}

fn with_image(container: &ContainerDefinition, image: &str) -> ContainerDefinition {
    let mut changed = container.clone();
    changed.image = Some(image.to_owned());
    changed
}

/// `family:revision`, the way ECS names a revision to people.
pub fn describe(td: &TaskDefinition) -> String {
    format!("{}:{}", td.family().unwrap_or("?"), td.revision())
}

/// `eventflow-backend:42` from an ARN `arn:aws:ecs:…:task-definition/eventflow-backend:42`.
pub fn short_name(arn: &str) -> &str {
    arn.rsplit_once('/').map_or(arn, |(_, name)| name)
}

/// The image of `container`, if there is one.
pub fn image_of<'a>(td: &'a TaskDefinition, container: &str) -> Option<&'a str> {
    td.container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))
        .and_then(|c| c.image())
}

/// `123.dkr.ecr.eu-central-1.amazonaws.com/eventflow-backend` from the image with a tag or digest.
pub fn repository_uri(image: &str) -> &str {
    let (head, last) = image.rsplit_once('/').unwrap_or(("", image));
    let name_end = last.find(['@', ':']).unwrap_or(last.len());
    &image[..head.len() + usize::from(!head.is_empty()) + name_end]
}

/// The tag of `image` (`repo:tag`), if it is referenced by tag.
pub fn tag_of(image: &str) -> Option<&str> {
    let last = image.rsplit_once('/').map_or(image, |(_, l)| l);
    if last.contains('@') {
        return None;
    }
    last.split_once(':').map(|(_, tag)| tag)
}

/// The names of the listed fields whose values differ between two values of the SDK's types.
macro_rules! changed_fields {
    ($old:expr, $new:expr, [$($field:ident),* $(,)?]) => {{
        let mut changed: Vec<&'static str> = Vec::new();
        $(
            if $old.$field != $new.$field {
                changed.push(stringify!($field));
            }
        )*
        changed
    }};
}

/// What changes between `current` and `next`, one line each, for the plan: the image, and by name
/// every other field that differs (a template Terraform changed). Variable and secret values are
/// never printed, only their names.
pub fn diff(current: &TaskDefinition, next: &RegisterTaskDefinitionInput) -> Vec<String> {
    let mut lines = vec![format!(
        "task definition {} → {}:(next revision)",
        describe(current),
        next.family().unwrap_or("?")
    )];
    let task_fields = changed_fields!(
        current,
        next,
        [
            task_role_arn,
            execution_role_arn,
            network_mode,
            volumes,
            placement_constraints,
            requires_compatibilities,
            cpu,
            memory,
            pid_mode,
            ipc_mode,
            proxy_configuration,
            inference_accelerators,
            ephemeral_storage,
            runtime_platform,
            enable_fault_injection,
        ]
    );
    for field in task_fields {
        lines.push(format!("! {field}: {}", task_value(current, next, field)));
    }
    let next_containers = next.container_definitions();
    for old in current.container_definitions() {
        let name = old.name().unwrap_or("?");
        match next_containers.iter().find(|c| c.name() == old.name()) {
            None => lines.push(format!("- container {name} (dropped)")),
            Some(new) => {
                if old.image() != new.image() {
                    lines.push(format!(
                        "- containerDefinitions[{name}].image: {}",
                        old.image().unwrap_or("(none)")
                    ));
                    lines.push(format!(
                        "+ containerDefinitions[{name}].image: {}",
                        new.image().unwrap_or("(none)")
                    ));
                }
                let environment: Vec<(&str, Option<&str>)> = old
                    .environment()
                    .iter()
                    .map(|v| (v.name().unwrap_or("?"), v.value()))
                    .collect();
                let next_environment: Vec<(&str, Option<&str>)> = new
                    .environment()
                    .iter()
                    .map(|v| (v.name().unwrap_or("?"), v.value()))
                    .collect();
                named_changes(
                    &mut lines,
                    name,
                    "environment",
                    &environment,
                    &next_environment,
                );
                let secrets: Vec<(&str, Option<&str>)> = old
                    .secrets()
                    .iter()
                    .map(|s| (s.name(), Some(s.value_from())))
                    .collect();
                let next_secrets: Vec<(&str, Option<&str>)> = new
                    .secrets()
                    .iter()
                    .map(|s| (s.name(), Some(s.value_from())))
                    .collect();
                named_changes(&mut lines, name, "secrets", &secrets, &next_secrets);
                let other = changed_fields!(
                    old,
                    new,
                    [
                        cpu,
                        memory,
                        memory_reservation,
                        port_mappings,
                        essential,
                        entry_point,
                        command,
                        health_check,
                        log_configuration,
                        readonly_root_filesystem,
                        stop_timeout,
                        start_timeout,
                        user,
                        ulimits,
                        linux_parameters,
                        mount_points,
                        depends_on,
                        working_directory,
                        docker_labels,
                        restart_policy,
                    ]
                );
                if !other.is_empty() {
                    lines.push(format!(
                        "! containerDefinitions[{name}]: {} changed",
                        other.join(", ")
                    ));
                }
            }
        }
    }
    for new in next_containers {
        if !current
            .container_definitions()
            .iter()
            .any(|c| c.name() == new.name())
        {
            lines.push(format!("+ container {} (added)", new.name().unwrap_or("?")));
        }
    }
    lines.push(format!("  (AWS sets these anew: {})", GENERATED.join(", ")));
    lines
}

/// cpu and memory are shown with their values (sizes, not secrets); other fields by name only.
fn task_value(current: &TaskDefinition, next: &RegisterTaskDefinitionInput, field: &str) -> String {
    let shown = |old: Option<&str>, new: Option<&str>| {
        format!("{} → {}", old.unwrap_or("(none)"), new.unwrap_or("(none)"))
    };
    match field {
        "cpu" => shown(current.cpu(), next.cpu()),
        "memory" => shown(current.memory(), next.memory()),
        "task_role_arn" => shown(current.task_role_arn(), next.task_role_arn()),
        "execution_role_arn" => shown(current.execution_role_arn(), next.execution_role_arn()),
        _ => "changed".into(),
    }
}

/// `+`, `-` and `~` lines for named entries (variables, secrets), by name only: values may be
/// sensitive, and a secret's ARN says nothing a reviewer needs.
fn named_changes(
    lines: &mut Vec<String>,
    container: &str,
    what: &str,
    old: &[(&str, Option<&str>)],
    new: &[(&str, Option<&str>)],
) {
    for (name, value) in new {
        match old.iter().find(|(n, _)| n == name) {
            None => lines.push(format!(
                "+ containerDefinitions[{container}].{what}: {name}"
            )),
            Some((_, old_value)) if old_value != value => lines.push(format!(
                "~ containerDefinitions[{container}].{what}: {name} (value changed)"
            )),
            Some(_) => {}
        }
    }
    for (name, _) in old {
        if !new.iter().any(|(n, _)| n == name) {
            lines.push(format!(
                "- containerDefinitions[{container}].{what}: {name}"
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_sdk_ecs::primitives::DateTime;
    use aws_sdk_ecs::types::{
        Attribute, Compatibility, CpuArchitecture, EphemeralStorage, InferenceAccelerator, IpcMode,
        KeyValuePair, NetworkMode, OsFamily, PidMode, PortMapping, ProxyConfiguration,
        RuntimePlatform, TaskDefinitionPlacementConstraint, TaskDefinitionStatus, Volume,
    };

    use super::*;

    const OLD: &str = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/eventflow-backend:aaa";
    const NEW: &str = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/eventflow-backend:bbb";

    /// A task definition with every field set, as DescribeTaskDefinition returns it.
    pub(crate) fn full() -> TaskDefinition {
        let backend = ContainerDefinition::builder()
            .name("backend")
            .image(OLD)
            .essential(true)
            .port_mappings(PortMapping::builder().container_port(8080).build())
            .environment(
                KeyValuePair::builder()
                    .name("LOG_FORMAT")
                    .value("json")
                    .build(),
            )
            .build();
        let sidecar = ContainerDefinition::builder()
            .name("otel")
            .image("public.ecr.aws/otel:1")
            .build();
        TaskDefinition::builder()
            .task_definition_arn(
                "arn:aws:ecs:eu-central-1:123456789012:task-definition/eventflow-backend:41",
            )
            .container_definitions(backend)
            .container_definitions(sidecar)
            .family("eventflow-backend")
            .task_role_arn("arn:aws:iam::123456789012:role/task")
            .execution_role_arn("arn:aws:iam::123456789012:role/exec")
            .network_mode(NetworkMode::Awsvpc)
            .revision(41)
            .volumes(Volume::builder().name("tmp").build())
            .status(TaskDefinitionStatus::Active)
            .requires_attributes(
                Attribute::builder()
                    .name("ecs.capability.secrets")
                    .build()
                    .unwrap(),
            )
            .placement_constraints(
                TaskDefinitionPlacementConstraint::builder()
                    .expression("attribute:x == y")
                    .build(),
            )
            .compatibilities(Compatibility::Fargate)
            .compatibilities(Compatibility::Ec2)
            .runtime_platform(
                RuntimePlatform::builder()
                    .cpu_architecture(CpuArchitecture::Arm64)
                    .operating_system_family(OsFamily::Linux)
                    .build(),
            )
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("512")
            .memory("1024")
            .inference_accelerators(
                InferenceAccelerator::builder()
                    .device_name("d")
                    .device_type("t")
                    .build()
                    .unwrap(),
            )
            .pid_mode(PidMode::Task)
            .ipc_mode(IpcMode::None)
            .proxy_configuration(
                ProxyConfiguration::builder()
                    .container_name("otel")
                    .build()
                    .unwrap(),
            )
            .registered_at(DateTime::from_secs(1_700_000_000))
            .deregistered_at(DateTime::from_secs(1_700_000_100))
            .registered_by("arn:aws:iam::123456789012:user/someone")
            .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
            .enable_fault_injection(true)
            .build()
    }

    fn tags() -> Vec<Tag> {
        vec![Tag::builder().key("team").value("platform").build()]
    }

    #[test]
    fn every_user_set_field_is_copied_and_only_the_image_changes() {
        let current = full();
        let next = next_revision(&current, &tags(), "backend", NEW).unwrap();
        assert_eq!(next.family(), Some("eventflow-backend"));
        assert_eq!(next.task_role_arn(), current.task_role_arn());
        assert_eq!(next.execution_role_arn(), current.execution_role_arn());
        assert_eq!(next.network_mode(), Some(&NetworkMode::Awsvpc));
        assert_eq!(next.volumes(), current.volumes());
        assert_eq!(
            next.placement_constraints(),
            current.placement_constraints()
        );
        assert_eq!(next.requires_compatibilities(), [Compatibility::Fargate]);
        assert_eq!(next.cpu(), Some("512"));
        assert_eq!(next.memory(), Some("1024"));
        assert_eq!(next.tags(), tags());
        assert_eq!(next.pid_mode(), Some(&PidMode::Task));
        assert_eq!(next.ipc_mode(), Some(&IpcMode::None));
        assert_eq!(next.proxy_configuration(), current.proxy_configuration());
        assert_eq!(
            next.inference_accelerators(),
            current.inference_accelerators()
        );
        assert_eq!(next.ephemeral_storage(), current.ephemeral_storage());
        assert_eq!(next.runtime_platform(), current.runtime_platform());
        assert_eq!(next.enable_fault_injection(), Some(true));

        let containers = next.container_definitions();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0].image(), Some(NEW));
        let mut back = containers[0].clone();
        back.image = Some(OLD.to_owned());
        assert_eq!(
            &back,
            &current.container_definitions()[0],
            "only the image changed"
        );
        assert_eq!(
            containers[1],
            current.container_definitions()[1],
            "other containers stay"
        );
    }

    /// Field names of a struct, read from its `Debug` output when every field is empty.
    fn field_names(debug: &str) -> Vec<String> {
        let inner = &debug[debug.find('{').unwrap() + 1..debug.rfind('}').unwrap()];
        let mut names: Vec<String> = inner
            .split(", ")
            .map(|f| f.split(':').next().unwrap().trim().to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_field_of_the_sdk_is_either_copied_or_known_to_be_generated() {
        // When an SDK upgrade adds a field, this fails: decide whether it is user-set (copy it in
        // `next_revision` and list it in COPIED) or AWS-generated (list it in GENERATED).
        let mut known: Vec<String> = COPIED
            .iter()
            .chain(GENERATED)
            .map(|s| s.to_string())
            .collect();
        known.sort();
        assert_eq!(
            field_names(&format!("{:?}", TaskDefinition::builder().build())),
            known
        );
        let mut input: Vec<String> = COPIED.iter().map(|s| s.to_string()).collect();
        input.push("tags".to_owned());
        input.sort();
        let empty = RegisterTaskDefinitionInput::builder().build().unwrap();
        assert_eq!(field_names(&format!("{empty:?}")), input);
    }

    #[test]
    fn a_missing_container_is_refused_with_the_fix() {
        let err = next_revision(&full(), &[], "web", NEW).unwrap_err();
        assert_eq!(
            err.to_string(),
            "task definition eventflow-backend:41 has no container `web` (it has: backend, otel): fix `container` in the environment's deploy.json"
        );
    }

    #[test]
    fn no_tags_means_no_tags_field() {
        let next = next_revision(&full(), &[], "backend", NEW).unwrap();
        assert!(next.tags.is_none());
    }

    #[test]
    fn the_diff_shows_the_image_and_what_aws_sets() {
        let current = full();
        let next = next_revision(&current, &[], "backend", NEW).unwrap();
        assert_eq!(
            diff(&current, &next),
            [
                "task definition eventflow-backend:41 → eventflow-backend:(next revision)",
                &format!("- containerDefinitions[backend].image: {OLD}"),
                &format!("+ containerDefinitions[backend].image: {NEW}"),
                "  (AWS sets these anew: task_definition_arn, revision, status, requires_attributes, compatibilities, registered_at, deregistered_at, registered_by)",
            ]
        );
    }

    #[test]
    fn the_diff_names_what_a_template_changed_without_values() {
        let current = full();
        let mut template = full();
        template.family = Some("eventflow-backend-template".into());
        template.memory = Some("2048".into());
        let backend = &mut template.container_definitions.as_mut().unwrap()[0];
        backend.environment = Some(vec![
            KeyValuePair::builder()
                .name("LOG_FORMAT")
                .value("text")
                .build(),
            KeyValuePair::builder()
                .name("RUST_LOG")
                .value("info")
                .build(),
        ]);
        backend.stop_timeout = Some(30);
        template.container_definitions.as_mut().unwrap().pop();
        let base = from_template(&template, "eventflow-backend");
        let next = next_revision(&base, &[], "backend", NEW).unwrap();
        assert_eq!(next.family(), Some("eventflow-backend"), "the app's family");
        assert_eq!(
            diff(&current, &next),
            [
                "task definition eventflow-backend:41 → eventflow-backend:(next revision)",
                "! memory: 1024 → 2048",
                &format!("- containerDefinitions[backend].image: {OLD}"),
                &format!("+ containerDefinitions[backend].image: {NEW}"),
                "~ containerDefinitions[backend].environment: LOG_FORMAT (value changed)",
                "+ containerDefinitions[backend].environment: RUST_LOG",
                "! containerDefinitions[backend]: stop_timeout changed",
                "- container otel (dropped)",
                "  (AWS sets these anew: task_definition_arn, revision, status, requires_attributes, compatibilities, registered_at, deregistered_at, registered_by)",
            ]
        );
    }

    #[test]
    fn image_names_split_into_repository_and_tag() {
        assert_eq!(
            repository_uri(OLD),
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com/eventflow-backend"
        );
        assert_eq!(tag_of(OLD), Some("aaa"));
        assert_eq!(
            repository_uri("localhost:5000/app@sha256:ab"),
            "localhost:5000/app"
        );
        assert_eq!(tag_of("localhost:5000/app@sha256:ab"), None);
        assert_eq!(tag_of("localhost:5000/app"), None);
        assert_eq!(repository_uri("app:1"), "app");
        assert_eq!(
            short_name("arn:aws:ecs:eu-central-1:1:task-definition/eventflow-backend:42"),
            "eventflow-backend:42"
        );
    }
}
