//! The commands that chain the image stage and the deploy engine: `images push`, and `cargo xtask
//! deploy staging` without `--image-tag`, which builds, verifies and pushes HEAD first. They sit
//! above both the stage catalog and the forwarding to `xtask-deploy`, which know nothing of each
//! other.

use anyhow::{Context as _, Result, ensure};

use crate::cli::{DeployArgs, Environment};
use crate::cmd::Cmd;
use crate::deploy::{self, deploy_args};
use crate::pipeline::{self, Options};
use crate::project::Project;
use crate::stages::{self, images};

/// `cargo xtask deploy`. Staging without `--image-tag` deploys HEAD: its images are built and
/// verified (`images build`), pushed (`images push`), then deployed by their sha tag. Production
/// never builds: it promotes what staging verified.
pub fn deploy(project: &Project, args: &DeployArgs, options: &Options) -> Result<bool> {
    if args.image_tag.is_some() || args.env != Environment::Staging {
        return deploy::run(project, deploy_args(args, options.dry_run));
    }
    let request = images::Request::default();
    // A dirty work tree is refused here, before anything is built.
    let tags = images::tags(&images::Revision::read(project), &request)?;
    images::pushable(&tags)?;
    if loaded(project, &tags) {
        // CI built and verified these very images; cd-staging loaded its archive.
        println!(
            "deploy staging without --image-tag: HEAD's images ({}) are here already (`images load`): pushing them, no rebuild",
            tags.id
        );
    } else {
        println!(
            "deploy staging without --image-tag: building, verifying and pushing HEAD ({}) first",
            tags.id
        );
    }
    if !loaded(project, &tags)
        && !pipeline::run(
            &project.env,
            "images",
            stages::images(project, &request)?,
            options,
        )?
    {
        return Ok(false);
    }
    if !push_images(project, &request, options.dry_run)? {
        return Ok(false);
    }
    let args = DeployArgs {
        image_tag: Some(tags.id.clone()),
        ..args.clone()
    };
    if options.dry_run {
        // Nothing was pushed, so the engine's dry run would not find the tag in ECR yet.
        println!(
            "would then run: {}",
            deploy::command(deploy_args(&args, true))
        );
        return Ok(true);
    }
    deploy::run(project, deploy_args(&args, false))
}

/// The archive `images save` writes and `images load` reads, relative to the project root: CI
/// uploads it from the job that built and verified the images, cd-staging downloads it.
pub const IMAGE_ARCHIVE: &str = "target/images/eventflow-images.tar";

/// The local images of `tags`, every tag of both.
fn local_images(tags: &images::Tags) -> Vec<String> {
    [images::BACKEND, images::FRONTEND]
        .iter()
        .flat_map(|name| tags.all().map(move |tag| format!("{name}:{tag}")))
        .collect()
}

/// `docker save` of this commit's images into [`IMAGE_ARCHIVE`].
pub fn save_command(tags: &images::Tags) -> Cmd {
    Cmd::new("docker")
        .args(["save", "--output", IMAGE_ARCHIVE])
        .args(local_images(tags))
}

/// `docker load` of [`IMAGE_ARCHIVE`].
pub fn load_command() -> Cmd {
    Cmd::new("docker").args(["load", "--input", IMAGE_ARCHIVE])
}

/// Whether both of HEAD's images (by their identity tag) are in the local Docker already.
fn loaded(project: &Project, tags: &images::Tags) -> bool {
    [images::BACKEND, images::FRONTEND].iter().all(|name| {
        Cmd::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}"])
            .arg(format!("{name}:{}", tags.id))
            .to_command(project.root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `cargo xtask images save`: this commit's built images into one archive.
pub fn save_images(project: &Project, request: &images::Request, dry_run: bool) -> Result<bool> {
    let tags = images::tags(&images::Revision::read(project), request)?;
    images::pushable(&tags)?;
    let cmd = save_command(&tags);
    println!("{cmd}");
    if dry_run {
        return Ok(true);
    }
    ensure!(
        loaded(project, &tags),
        "the images of {} are not built here: run `cargo xtask images build` first",
        tags.id
    );
    let archive = project.root().join(IMAGE_ARCHIVE);
    if let Some(dir) = archive.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::forward::run(project, &cmd)
}

/// `cargo xtask images load`: the archive `images save` wrote, into the local Docker.
pub fn load_images(project: &Project, dry_run: bool) -> Result<bool> {
    let cmd = load_command();
    println!("{cmd}");
    if dry_run {
        return Ok(true);
    }
    ensure!(
        project.root().join(IMAGE_ARCHIVE).is_file(),
        "there is no {IMAGE_ARCHIVE}: download the `eventflow-images` artifact of the CI run first, or build with `cargo xtask images build`"
    );
    crate::forward::run(project, &cmd)
}

/// `cargo xtask images push`: the tags of this commit's images to ECR, through `xtask-deploy`
/// (which holds the AWS SDK for the registry login).
pub fn push_images(project: &Project, request: &images::Request, dry_run: bool) -> Result<bool> {
    let tags = images::tags(&images::Revision::read(project), request)?;
    images::pushable(&tags)?;
    deploy::run(project, images::push_args(&tags, dry_run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_holds_every_tag_of_both_images_and_loads_back() {
        let tags = images::Tags {
            id: "0123abc".into(),
            extra: vec!["develop".into()],
            notes: Vec::new(),
        };
        assert_eq!(
            save_command(&tags).to_string(),
            "$ docker save --output target/images/eventflow-images.tar eventflow-backend:0123abc eventflow-backend:develop eventflow-frontend:0123abc eventflow-frontend:develop"
        );
        assert_eq!(
            load_command().to_string(),
            "$ docker load --input target/images/eventflow-images.tar"
        );
    }
}
