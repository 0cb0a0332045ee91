//! GitHub's environment files: what a step writes to GITHUB_OUTPUT and GITHUB_ENV, as `name=value`
//! lines or the multi-line form `name<<DELIMITER`, value lines, `DELIMITER`.

use anyhow::{Result, bail};

pub fn parse(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        let heredoc = line
            .split_once("<<")
            .filter(|(name, _)| !name.contains('='));
        if let Some((name, delimiter)) = heredoc {
            let mut value = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l == delimiter => break,
                    Some(l) => value.push(l),
                    None => bail!("`{name}<<{delimiter}` has no closing `{delimiter}` line"),
                }
            }
            pairs.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            pairs.push((name.to_owned(), value.to_owned()));
        } else {
            bail!("`{line}` is neither `name=value` nor `name<<DELIMITER`");
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line_values() {
        let pairs = parse("tag=v1=2\nnotes<<EOF\nline one\nline two\nEOF\n\nempty=\n").unwrap();
        assert_eq!(
            pairs,
            [
                ("tag".to_owned(), "v1=2".to_owned()),
                ("notes".to_owned(), "line one\nline two".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
        assert!(parse("notes<<EOF\nunterminated\n").is_err());
        assert!(parse("just words\n").is_err());
    }
}
