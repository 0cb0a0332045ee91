//! The promise that the docs only name commands that exist, as a test: at 3 a.m. a command
//! copied from the runbook must run.
//!
//! Every `cargo xtask …` in docs/runbook.md, the other docs/*.md, README.md and
//! infrastructure/README.md (a line of a code block, or an inline code span) is checked against
//! the command tree in `cli.rs`, as `workflow_parity` checks the workflows:
//! - a concrete command (no placeholder such as `<env>`, `[--flag]`, `a|b` or `…`) must parse as
//!   written, values included; only missing required arguments are let through, since prose
//!   names a command without its arguments (`` `cargo xtask rollback` ``);
//! - a synopsis (`cargo xtask deploy <staging|production> [--image-tag TAG]`) must name existing
//!   subcommands (each alternative of `a|b`) and only flags those subcommands accept.

use std::path::Path;

use clap::error::ErrorKind;
use clap::{Command, CommandFactory};

use crate::cli::Cli;

/// The documents checked, relative to the project root; `docs/*.md` is added to them.
const DOCUMENTS: &[&str] = &["README.md", "infrastructure/README.md"];

/// A `cargo xtask …` mention: where it is and what it says (from `cargo` on).
struct Mention {
    at: String,
    text: String,
}

/// Every `cargo xtask …` in `markdown`: code-block lines (up to a comment or a shell operator)
/// and inline code spans.
fn mentions(file: &str, markdown: &str) -> Vec<Mention> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for (number, line) in markdown.lines().enumerate() {
        let at = format!("{file}:{}", number + 1);
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            let code = line.trim().trim_start_matches("$ ");
            if code.starts_with("cargo xtask") {
                out.push(Mention {
                    at,
                    text: command_part(code).to_owned(),
                });
            }
            continue;
        }
        // Inline spans: the text between pairs of backticks (`\|` is a `|` inside a table).
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && span.trim_start().starts_with("cargo xtask") {
                out.push(Mention {
                    at: at.clone(),
                    text: command_part(&span.trim().replace("\\|", "|")).to_owned(),
                });
            }
        }
    }
    out
}

/// The command itself: up to a comment, `&&`, `;`, `>` or a pipe between commands.
fn command_part(code: &str) -> &str {
    let mut end = code.len();
    for stop in ["  #", " # ", " && ", " ; ", " > ", " 2>", " | "] {
        if let Some(i) = code.find(stop) {
            end = end.min(i);
        }
    }
    code[..end].trim_end()
}

/// Whether a mention uses synopsis notation rather than being a command to run as written.
fn is_synopsis(text: &str) -> bool {
    text.contains(['<', '>', '[', ']', '{', '}', '|', '…', '$']) || text.contains("...")
}

/// The problem with one mention, if any.
fn check(mention: &Mention) -> Option<String> {
    let words: Vec<&str> = mention.text.split_whitespace().collect();
    let args = &words[2..];
    let result = if is_synopsis(&mention.text) {
        check_synopsis(args)
    } else {
        check_concrete(args)
    };
    result
        .err()
        .map(|e| format!("{}: `{}`: {e}", mention.at, mention.text))
}

/// Parses the words as clap would, values included.
fn check_concrete(args: &[&str]) -> Result<(), String> {
    let argv = std::iter::once("xtask").chain(args.iter().copied());
    match Cli::command().try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::MissingRequiredArgument
                    | ErrorKind::MissingSubcommand
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    | ErrorKind::DisplayHelp
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e.to_string().lines().next().unwrap_or_default().to_owned()),
    }
}

/// Checks the subcommands and flags of a synopsis; placeholders stand for values.
fn check_synopsis(args: &[&str]) -> Result<(), String> {
    let mut root = Cli::command();
    // Global flags (`--dry-run`, `--only`) become every subcommand's.
    root.build();
    let mut current: Vec<Command> = vec![root];
    for word in args {
        let word = word.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')'));
        if word.is_empty() || word == "…" || word == "..." {
            continue;
        }
        if let Some(flag) = word.strip_prefix("--") {
            for alternative in flag.split('|') {
                let name = alternative
                    .trim_start_matches("--")
                    .split('=')
                    .next()
                    .unwrap_or_default();
                for command in &current {
                    let known = command.get_arguments().any(|a| a.get_long() == Some(name));
                    if !known {
                        return Err(format!(
                            "`{}` has no flag `--{name}`: fix the document, or add the flag to cli.rs",
                            command.get_bin_name().unwrap_or(command.get_name())
                        ));
                    }
                }
            }
            continue;
        }
        if word.starts_with('-') {
            continue;
        }
        let alternatives: Vec<&str> = word
            .trim_matches(|c| c == '<' || c == '>')
            .split('|')
            .collect();
        let takes_subcommand = current.iter().all(|c| c.has_subcommands());
        let names_subcommands = alternatives
            .iter()
            .all(|a| current.iter().all(|c| c.find_subcommand(a).is_some()));
        if takes_subcommand && names_subcommands {
            current = current
                .iter()
                .flat_map(|c| {
                    alternatives
                        .iter()
                        .map(|a| c.find_subcommand(a).expect("checked above").clone())
                        .collect::<Vec<_>>()
                })
                .collect();
            continue;
        }
        let is_placeholder =
            word.starts_with('<') || word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
        let takes_positional = current.iter().all(|c| c.get_positionals().next().is_some());
        if takes_subcommand && !is_placeholder && !takes_positional {
            return Err(format!(
                "`{word}` is not a subcommand of `{}`: fix the document, or add the command to cli.rs",
                current[0].get_name()
            ));
        }
    }
    Ok(())
}

/// Every problem in `documents` (path, text).
fn problems(documents: &[(String, String)]) -> Vec<String> {
    documents
        .iter()
        .flat_map(|(file, text)| mentions(file, text))
        .filter_map(|m| check(&m))
        .collect()
}

fn read_documents(root: &Path) -> Vec<(String, String)> {
    let mut paths: Vec<String> = DOCUMENTS.iter().map(|p| (*p).to_owned()).collect();
    let docs = std::fs::read_dir(root.join("docs")).expect("docs/ exists");
    let mut in_docs: Vec<String> = docs
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    in_docs.sort();
    paths.extend(in_docs);
    paths
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(root.join(&p)).unwrap_or_else(|e| panic!("{p}: {e}"));
            (p, text)
        })
        .collect()
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_docs_name_only_commands_and_flags_that_exist() {
    let documents = read_documents(&root());
    let runbook = &documents
        .iter()
        .find(|(p, _)| p == "docs/runbook.md")
        .expect("docs/runbook.md is read")
        .1;
    let checked = mentions("docs/runbook.md", runbook).len();
    assert!(
        checked >= 20,
        "only {checked} commands found in the runbook"
    );
    let problems = problems(&documents);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The real runbook with one more line in its first code block.
fn runbook_with(line: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("docs/runbook.md")).unwrap();
    let planted = text.replacen("```\n", &format!("```\n{line}\n"), 1);
    problems(&[("docs/runbook.md".to_owned(), planted)])
}

#[test]
fn a_planted_bad_flag_or_command_is_caught() {
    let problems = runbook_with("cargo xtask rollback staging --force   # roll back at once");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`cargo xtask rollback staging --force`")
            && problems[0].contains("unexpected argument '--force'"),
        "{}",
        problems[0]
    );

    let problems = runbook_with("cargo xtask rollback <staging|production> [--to TAG] [--fast]");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("has no flag `--fast`"),
        "{}",
        problems[0]
    );

    let problems = runbook_with("cargo xtask roll-back <staging|production>");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`roll-back` is not a subcommand"),
        "{}",
        problems[0]
    );

    let problems = runbook_with("cargo xtask rollback qa");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("invalid value 'qa'"),
        "{}",
        problems[0]
    );
}

#[test]
fn prose_comments_and_operators_are_not_part_of_the_command() {
    let found = mentions(
        "x.md",
        "Run `cargo xtask status staging` first.\n| `cargo xtask deploy\\|status <env>` | table |\n```sh\n$ cargo xtask rollback staging --dry-run   # which release\ncargo xtask infra plan staging && cargo xtask infra apply staging\n```\n",
    );
    let texts: Vec<&str> = found.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "cargo xtask status staging",
            "cargo xtask deploy|status <env>",
            "cargo xtask rollback staging --dry-run",
            "cargo xtask infra plan staging"
        ]
    );
    assert_eq!(found[2].at, "x.md:4");
    // Named without its arguments in prose: fine.
    assert_eq!(check(&found[0]), None);
    assert_eq!(
        check_concrete(&["rollback"]),
        Ok(()),
        "a command named without its required arguments"
    );
}
