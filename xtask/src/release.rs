//! The commands that chain the image stage and the deploy engine: `images push`, and `cargo xtask
//! deploy staging` without `--image-tag`, which builds, verifies and pushes HEAD first. They sit
//! above both the stage catalog and the forwarding to `xtask-deploy`, which know nothing of each
//! other.

use anyhow::Result;

use crate::cli::{DeployArgs, Environment};
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
    println!(
        "deploy staging without --image-tag: building, verifying and pushing HEAD ({}) first",
        tags.id
    );
    if !pipeline::run(
        &project.env,
        "images",
        stages::images(project, &request)?,
        options,
    )? {
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

/// `cargo xtask images push`: the tags of this commit's images to ECR, through `xtask-deploy`
/// (which holds the AWS SDK for the registry login).
pub fn push_images(project: &Project, request: &images::Request, dry_run: bool) -> Result<bool> {
    let tags = images::tags(&images::Revision::read(project), request)?;
    images::pushable(&tags)?;
    deploy::run(project, images::push_args(&tags, dry_run))
}
