//! The Terraform of `infrastructure/`, parsed: one [`Module`] per directory of `.tf` files, with
//! its `terraform.tfvars` and `deploy.json` when it has them, and the `.tftpl` templates the
//! modules read with `templatefile()`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use hcl::{Block, Body, Expression};

/// A broken invariant: the file to fix and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Relative to `infrastructure/`.
    pub file: String,
    pub message: String,
}

impl Finding {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            file: file.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "infrastructure/{}: {}", self.file, self.message)
    }
}

/// One parsed file.
#[derive(Debug)]
pub struct File {
    /// Relative to `infrastructure/`, with `/` separators.
    pub path: String,
    pub body: Body,
}

/// The `.tf` files of one directory.
#[derive(Debug)]
pub struct Module {
    /// Relative to `infrastructure/`: `modules/ecs`, `environments/staging`, `global`.
    pub dir: String,
    pub files: Vec<File>,
    pub tfvars: Option<File>,
    /// `deploy.json`: its path and content.
    pub deploy_json: Option<(String, serde_json::Value)>,
}

/// A block with the file it is in.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub file: &'a str,
    pub block: &'a Block,
}

impl<'a> Item<'a> {
    /// The block's `n`th label (`resource "TYPE" "NAME"`: 0 is the type, 1 the name).
    pub fn label(&self, n: usize) -> &'a str {
        self.block.labels().get(n).map_or("", |l| l.as_str())
    }

    pub fn attr(&self, key: &str) -> Option<&'a Expression> {
        attr(self.block.body(), key)
    }
}

/// The expression of `key` in `body`, if `body` sets it.
pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// The blocks named `ident` directly in `body`.
pub fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks().filter(move |b| b.identifier() == ident)
}

impl Module {
    /// Whether Terraform is run here (an environment, `global`) rather than called as a module.
    pub fn is_root(&self) -> bool {
        !self.dir.starts_with("modules/")
    }

    /// Top-level blocks named `ident`, in file order.
    pub fn blocks<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = Item<'a>> + 'a {
        self.files.iter().flat_map(move |f| {
            blocks(&f.body, ident).map(move |block| Item {
                file: &f.path,
                block,
            })
        })
    }

    /// `resource "TYPE" …` blocks.
    pub fn resources<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = Item<'a>> + 'a {
        self.blocks("resource").filter(move |i| i.label(0) == ty)
    }

    /// `locals { NAME = … }` entries: (file, name, expression).
    pub fn locals(&self) -> Vec<(&str, &str, &Expression)> {
        self.blocks("locals")
            .flat_map(|i| {
                i.block
                    .body()
                    .attributes()
                    .map(move |a| (i.file, a.key(), a.expr()))
            })
            .collect()
    }

    /// The directory of a `module` block's `source`, relative to `infrastructure/`.
    pub fn source_of(&self, call: &Item<'_>) -> Option<String> {
        match call.attr("source") {
            Some(Expression::String(source)) => resolve_source(&self.dir, source),
            _ => None,
        }
    }
}

/// `source = "../../modules/ecs"` seen from `environments/staging` is `modules/ecs`.
pub fn resolve_source(caller_dir: &str, source: &str) -> Option<String> {
    if !(source.starts_with("./") || source.starts_with("../")) {
        return None;
    }
    let mut parts: Vec<&str> = caller_dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Every Terraform directory under `infrastructure/`.
#[derive(Debug)]
pub struct Tree {
    pub modules: BTreeMap<String, Module>,
    /// Every `.tftpl` file: path relative to `infrastructure/` → text.
    pub templates: BTreeMap<String, String>,
}

impl Tree {
    /// Reads and parses every `.tf` file under `root` (skipping `.terraform/` and the checks'
    /// own crate), each directory's `terraform.tfvars` and `deploy.json`, and every `.tftpl`.
    pub fn load(root: &Path) -> Result<Tree, String> {
        let sources = read_sources(root)?;
        let borrowed: Vec<(&str, &str)> = sources
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        Tree::from_sources(&borrowed)
    }

    /// Builds a tree from (path relative to `infrastructure/`, text) pairs: the real files, or
    /// snippets in tests.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Tree, String> {
        let mut modules: BTreeMap<String, Module> = BTreeMap::new();
        let mut templates = BTreeMap::new();
        let mut errors = Vec::new();
        for (path, text) in sources {
            if path.ends_with(".tftpl") {
                templates.insert((*path).to_owned(), (*text).to_owned());
                continue;
            }
            let (dir, name) = match path.rsplit_once('/') {
                Some((dir, name)) => (dir.to_owned(), name),
                None => (String::new(), *path),
            };
            let module = modules.entry(dir.clone()).or_insert_with(|| Module {
                dir,
                files: Vec::new(),
                tfvars: None,
                deploy_json: None,
            });
            if name == "deploy.json" {
                match serde_json::from_str(text) {
                    Ok(json) => module.deploy_json = Some(((*path).to_owned(), json)),
                    Err(e) => errors.push(format!("infrastructure/{path}: not valid JSON: {e}")),
                }
                continue;
            }
            match hcl::parse(text) {
                Ok(body) => {
                    let file = File {
                        path: (*path).to_owned(),
                        body,
                    };
                    if name.ends_with(".tfvars") {
                        module.tfvars = Some(file);
                    } else {
                        module.files.push(file);
                    }
                }
                Err(e) => errors.push(format!("infrastructure/{path}: does not parse as HCL: {e}")),
            }
        }
        // Directories holding only a deploy.json or tfvars are still reported by the checks.
        for module in modules.values_mut() {
            module.files.sort_by(|a, b| a.path.cmp(&b.path));
        }
        if errors.is_empty() {
            Ok(Tree { modules, templates })
        } else {
            Err(errors.join("\n"))
        }
    }

    pub fn module(&self, dir: &str) -> Option<&Module> {
        self.modules.get(dir)
    }

    pub fn roots(&self) -> impl Iterator<Item = &Module> {
        self.modules.values().filter(|m| m.is_root())
    }

    /// The environments: `environments/<name>`.
    pub fn environments(&self) -> impl Iterator<Item = &Module> {
        self.modules
            .values()
            .filter(|m| m.dir.starts_with("environments/"))
    }
}

/// The files [`Tree::load`] reads, as (path relative to `root`, text).
pub fn read_sources(root: &Path) -> Result<Vec<(String, String)>, String> {
    let mut sources = Vec::new();
    collect(root, root, &mut sources)?;
    Ok(sources)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name.starts_with('.') || name == "checks" || name == "target" {
                continue;
            }
            collect(root, &path, out)?;
        } else if name.ends_with(".tf")
            || name.ends_with(".tftpl")
            || name == "terraform.tfvars"
            || name == "deploy.json"
        {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            out.push((relative(root, &path), text));
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_resolve_relative_to_the_caller() {
        assert_eq!(
            resolve_source("environments/staging", "../../modules/ecs").as_deref(),
            Some("modules/ecs")
        );
        assert_eq!(
            resolve_source("global", "../modules/ecr").as_deref(),
            Some("modules/ecr")
        );
        assert_eq!(
            resolve_source("global", "terraform-aws-modules/vpc/aws"),
            None
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_named() {
        let err = Tree::from_sources(&[("modules/x/main.tf", "resource \"a\" {")]).unwrap_err();
        assert!(
            err.starts_with("infrastructure/modules/x/main.tf: does not parse as HCL"),
            "{err}"
        );
    }
}
