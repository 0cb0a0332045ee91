//! What the engine tells the person (or the CI log) running it, and how it hears back: lines of
//! output, the confirmation prompt, and Ctrl-C.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;

use anyhow::{Result, bail};
use tokio::sync::watch;

/// Ctrl-C (or SIGTERM) turns this to `true`.
pub type Cancel = watch::Receiver<bool>;

/// Resolves once `cancel` fires; never, if nothing can fire it any more.
pub async fn interrupted(cancel: &mut Cancel) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Whether `cancel` has fired.
pub fn is_interrupted(cancel: &Cancel) -> bool {
    *cancel.borrow()
}

/// Output lines, printed as they come (and kept, for the tests to read).
#[derive(Default)]
pub struct Console {
    quiet: bool,
    lines: Mutex<Vec<String>>,
}

impl Console {
    pub fn new() -> Console {
        Console::default()
    }

    /// Keeps the lines without printing them.
    pub fn quiet() -> Console {
        Console {
            quiet: true,
            ..Console::default()
        }
    }

    pub fn say(&self, line: impl Into<String>) {
        let line = line.into();
        if !self.quiet {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    /// An AWS call that changes something, as it is made (or, in a dry run, would be made).
    pub fn call(&self, dry_run: bool, call: impl AsRef<str>) {
        let marker = if dry_run { "would call" } else { "→" };
        self.say(format!("  {marker} {}", call.as_ref()));
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Asks for go-ahead on `(question, word to type)`: `Ok(true)` to go on.
pub type Prompt = dyn Fn(&str, &str) -> Result<bool> + Send + Sync;

/// Asks on the terminal: the person types `word` (the environment's name) to go on. Refuses when
/// there is no terminal to ask on.
pub fn ask_on_terminal(question: &str, word: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "{question}: there is no terminal to confirm on: pass --yes to go ahead without a prompt (CI does, after its own approval)"
        );
    }
    print!("{question} Type `{word}` to go on: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(answer.trim() == word)
}
