//! GitHub Actions expressions: the `if:` conditions and the `${{ … }}` in `run:`, `env:` and
//! `with:` values. A tokenizer, a precedence-climbing parser into [`Expr`], and an evaluator
//! with GitHub's loose comparisons and truthiness
//! (docs.github.com/actions/reference/workflows-and-actions/expressions).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Result, bail};

/// A value of an expression: GitHub's data types.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn object<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// A property, case-insensitively like GitHub; null when absent.
    pub fn get(&self, key: &str) -> Value {
        match self {
            Value::Object(map) => map
                .get(key)
                .or_else(|| {
                    map.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(key))
                        .map(|(_, v)| v)
                })
                .cloned()
                .unwrap_or(Value::Null),
            Value::Array(items) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i).cloned())
                .unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    fn number(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => *n,
            Value::String(s) if s.trim().is_empty() => 0.0,
            Value::String(s) => s.trim().parse().unwrap_or(f64::NAN),
            Value::Array(_) | Value::Object(_) => f64::NAN,
        }
    }

    /// GitHub's `==`: same types compare directly (strings ignoring case), different types as
    /// numbers.
    fn loose_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
                self == other
            }
            _ => self.number() == other.number(),
        }
    }

    fn loose_cmp(&self, other: &Value) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Value::String(a), Value::String(b)) => {
                Some(a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()))
            }
            _ => self.number().partial_cmp(&other.number()),
        }
    }
}

/// The text a value becomes inside `${{ }}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => f.write_str(s),
            Value::Array(_) => f.write_str("Array"),
            Value::Object(_) => f.write_str("Object"),
        }
    }
}

/// How the job (for a step) or the needed jobs (for a job) have gone so far: what `success()`,
/// `failure()` and `cancelled()` answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub failed: bool,
    pub cancelled: bool,
    /// A needed job was skipped or cancelled: `success()` no longer holds, `failure()` doesn't.
    pub blocked: bool,
}

/// What an expression can read.
pub trait Context {
    /// A named context: `github`, `inputs`, `needs`, `env`, `steps`, `vars`, ….
    fn context(&self, name: &str) -> Result<Value>;
    /// `name.key`; a context that must refuse unknown keys (secrets) overrides this.
    fn member(&self, name: &str, key: &str) -> Result<Value> {
        Ok(self.context(name)?.get(key))
    }
    fn status(&self) -> Status;
    /// `hashFiles(patterns…)`: a digest of the matching files, empty when none match.
    fn hash_files(&self, patterns: &[String]) -> Result<String>;
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Literal(Value),
    Context(String),
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, CompareOp, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

const STATUS_FUNCTIONS: &[&str] = &["success", "failure", "cancelled", "always"];

impl Expr {
    fn calls_status_function(&self) -> bool {
        match self {
            Expr::Call(name, args) => {
                STATUS_FUNCTIONS
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(name))
                    || args.iter().any(Expr::calls_status_function)
            }
            Expr::Literal(_) | Expr::Context(_) => false,
            Expr::Member(e, _) | Expr::Not(e) => e.calls_status_function(),
            Expr::Index(a, b) | Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(a, _, b) => {
                a.calls_status_function() || b.calls_status_function()
            }
        }
    }

    pub fn eval(&self, ctx: &dyn Context) -> Result<Value> {
        Ok(match self {
            Expr::Literal(v) => v.clone(),
            Expr::Context(name) => ctx.context(name)?,
            Expr::Member(base, key) => match &**base {
                Expr::Context(name) => ctx.member(name, key)?,
                base => base.eval(ctx)?.get(key),
            },
            Expr::Index(base, index) => {
                let key = index.eval(ctx)?.to_string();
                match &**base {
                    Expr::Context(name) => ctx.member(name, &key)?,
                    base => base.eval(ctx)?.get(&key),
                }
            }
            Expr::Call(name, args) => call(name, args, ctx)?,
            Expr::Not(e) => Value::Bool(!e.eval(ctx)?.truthy()),
            Expr::And(a, b) => {
                let a = a.eval(ctx)?;
                if a.truthy() { b.eval(ctx)? } else { a }
            }
            Expr::Or(a, b) => {
                let a = a.eval(ctx)?;
                if a.truthy() { a } else { b.eval(ctx)? }
            }
            Expr::Compare(a, op, b) => {
                let (a, b) = (a.eval(ctx)?, b.eval(ctx)?);
                Value::Bool(match op {
                    CompareOp::Eq => a.loose_eq(&b),
                    CompareOp::Ne => !a.loose_eq(&b),
                    CompareOp::Lt => a.loose_cmp(&b) == Some(std::cmp::Ordering::Less),
                    CompareOp::Le => matches!(
                        a.loose_cmp(&b),
                        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                    ),
                    CompareOp::Gt => a.loose_cmp(&b) == Some(std::cmp::Ordering::Greater),
                    CompareOp::Ge => matches!(
                        a.loose_cmp(&b),
                        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
                    ),
                })
            }
        })
    }
}

fn call(name: &str, args: &[Expr], ctx: &dyn Context) -> Result<Value> {
    let name = name.to_ascii_lowercase();
    let status = ctx.status();
    let values = || -> Result<Vec<Value>> { args.iter().map(|a| a.eval(ctx)).collect() };
    let arity = |n: usize| -> Result<()> {
        if args.len() != n {
            bail!("`{name}()` takes {n} argument(s), not {}", args.len());
        }
        Ok(())
    };
    Ok(match name.as_str() {
        "success" => Value::Bool(!status.failed && !status.cancelled && !status.blocked),
        "failure" => Value::Bool(status.failed),
        "cancelled" => Value::Bool(status.cancelled),
        "always" => Value::Bool(true),
        "contains" => {
            arity(2)?;
            let v = values()?;
            Value::Bool(match &v[0] {
                Value::Array(items) => items.iter().any(|i| i.loose_eq(&v[1])),
                haystack => haystack
                    .to_string()
                    .to_ascii_lowercase()
                    .contains(&v[1].to_string().to_ascii_lowercase()),
            })
        }
        "startswith" | "endswith" => {
            arity(2)?;
            let v = values()?;
            let (s, affix) = (
                v[0].to_string().to_ascii_lowercase(),
                v[1].to_string().to_ascii_lowercase(),
            );
            Value::Bool(if name == "startswith" {
                s.starts_with(&affix)
            } else {
                s.ends_with(&affix)
            })
        }
        "format" => {
            let v = values()?;
            let Some((template, rest)) = v.split_first() else {
                bail!("`format()` needs a format string");
            };
            let mut out = template.to_string();
            for (i, arg) in rest.iter().enumerate() {
                out = out.replace(&format!("{{{i}}}"), &arg.to_string());
            }
            Value::String(out)
        }
        "hashfiles" => {
            let patterns = values()?.iter().map(Value::to_string).collect::<Vec<_>>();
            Value::String(ctx.hash_files(&patterns)?)
        }
        _ => bail!("the rehearsal can't evaluate `{name}()`: add it to xtask/rehearse/src/expr.rs"),
    })
}

/// Parses one expression (the text between `${{` and `}}`).
pub fn parse(text: &str) -> Result<Expr> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, at: 0 };
    let expr = parser.or()?;
    if let Some(token) = parser.tokens.get(parser.at) {
        bail!("unexpected {token:?} in expression `{text}`");
    }
    Ok(expr)
}

/// An `if:` condition: with or without `${{ }}`, and wrapped in GitHub's implicit
/// `success() && (…)` when it calls no status function.
pub fn condition(text: &str) -> Result<Expr> {
    let trimmed = text.trim();
    let inner = match trimmed
        .strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
    {
        Some(inner) if !inner.contains("${{") => inner,
        _ => trimmed,
    };
    let expr = parse(inner)?;
    Ok(if expr.calls_status_function() {
        expr
    } else {
        Expr::And(
            Box::new(Expr::Call("success".into(), Vec::new())),
            Box::new(expr),
        )
    })
}

/// The keys of `context` (`secrets`, `vars`) that `text`'s expressions read, by name.
/// `whole` says `text` is an `if:` condition rather than a value with `${{ }}` in it.
pub fn references(text: &str, context: &str, whole: bool) -> Result<Vec<String>> {
    let exprs = if whole {
        vec![condition(text)?]
    } else {
        templates(text)?
            .iter()
            .map(|t| parse(t))
            .collect::<Result<Vec<_>>>()?
    };
    let mut names = Vec::new();
    for expr in &exprs {
        expr.collect_members(context, &mut names);
    }
    Ok(names)
}

impl Expr {
    fn collect_members(&self, context: &str, names: &mut Vec<String>) {
        match self {
            Expr::Member(base, key) if **base == Expr::Context(context.to_owned()) => {
                names.push(key.clone());
            }
            Expr::Index(base, key) if **base == Expr::Context(context.to_owned()) => {
                if let Expr::Literal(Value::String(key)) = &**key {
                    names.push(key.clone());
                }
            }
            Expr::Literal(_) | Expr::Context(_) => {}
            Expr::Member(e, _) | Expr::Not(e) => e.collect_members(context, names),
            Expr::Call(_, args) => args.iter().for_each(|a| a.collect_members(context, names)),
            Expr::Index(a, b) | Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(a, _, b) => {
                a.collect_members(context, names);
                b.collect_members(context, names);
            }
        }
    }
}

/// The text of every `${{ … }}` in `text`.
fn templates(text: &str) -> Result<Vec<&str>> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let Some(end) = closing_braces(after) else {
            bail!("`${{{{` without its `}}}}` in `{text}`");
        };
        found.push(&after[..end]);
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// Replaces every `${{ … }}` in `text` with its value.
pub fn substitute(text: &str, ctx: &dyn Context) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(end) = closing_braces(after) else {
            bail!("`${{{{` without its `}}}}` in `{text}`");
        };
        out.push_str(&parse(&after[..end])?.eval(ctx)?.to_string());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the `}}` that closes an expression is, skipping string literals.
fn closing_braces(text: &str) -> Option<usize> {
    let mut in_string = false;
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'\'' => in_string = !in_string,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
    }
    None
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Literal(Value),
    Ident(String),
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Not,
    And,
    Or,
    Compare(CompareOp),
}

fn tokenize(text: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let two = |a: char, b: char| c == a && next == Some(b);
        let token = if c.is_whitespace() {
            i += 1;
            continue;
        } else if two('&', '&') {
            i += 1;
            Token::And
        } else if two('|', '|') {
            i += 1;
            Token::Or
        } else if two('=', '=') {
            i += 1;
            Token::Compare(CompareOp::Eq)
        } else if two('!', '=') {
            i += 1;
            Token::Compare(CompareOp::Ne)
        } else if two('<', '=') {
            i += 1;
            Token::Compare(CompareOp::Le)
        } else if two('>', '=') {
            i += 1;
            Token::Compare(CompareOp::Ge)
        } else if c == '<' {
            Token::Compare(CompareOp::Lt)
        } else if c == '>' {
            Token::Compare(CompareOp::Gt)
        } else if c == '!' {
            Token::Not
        } else if c == '.' && !next.is_some_and(|n| n.is_ascii_digit()) {
            Token::Dot
        } else if c == ',' {
            Token::Comma
        } else if c == '(' {
            Token::LParen
        } else if c == ')' {
            Token::RParen
        } else if c == '[' {
            Token::LBracket
        } else if c == ']' {
            Token::RBracket
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (Some('\''), Some('\'')) => {
                        s.push('\'');
                        i += 2;
                    }
                    (Some('\''), _) => break,
                    (Some(c), _) => {
                        s.push(*c);
                        i += 1;
                    }
                    (None, _) => bail!("unterminated string in expression `{text}`"),
                }
            }
            Token::Literal(Value::String(s))
        } else if c.is_ascii_digit() || c == '-' || c == '.' {
            let start = i;
            while chars
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
            {
                i += 1;
            }
            let word: String = chars[start..=i].iter().collect();
            let number = if let Some(hex) = word.strip_prefix("0x") {
                i64::from_str_radix(hex, 16).ok().map(|n| n as f64)
            } else {
                word.parse::<f64>().ok()
            };
            match number {
                Some(n) => Token::Literal(Value::Number(n)),
                None => bail!("`{word}` is not a number in expression `{text}`"),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            {
                i += 1;
            }
            let word: String = chars[start..=i].iter().collect();
            match word.as_str() {
                "true" => Token::Literal(Value::Bool(true)),
                "false" => Token::Literal(Value::Bool(false)),
                "null" => Token::Literal(Value::Null),
                "NaN" => Token::Literal(Value::Number(f64::NAN)),
                "Infinity" => Token::Literal(Value::Number(f64::INFINITY)),
                _ => Token::Ident(word),
            }
        } else {
            bail!("unexpected `{c}` in expression `{text}`");
        };
        tokens.push(token);
        i += 1;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &Token) -> Result<()> {
        if !self.eat(token) {
            bail!("expected {token:?}, found {:?}", self.peek());
        }
        Ok(())
    }

    // Lowest precedence first: `||`, `&&`, `== !=`, `< <= > >=`, `!`, then member access.
    fn or(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.eat(&Token::Or) {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.equality()?;
        while self.eat(&Token::And) {
            left = Expr::And(Box::new(left), Box::new(self.equality()?));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr> {
        let mut left = self.ordering()?;
        while let Some(Token::Compare(op @ (CompareOp::Eq | CompareOp::Ne))) = self.peek() {
            let op = *op;
            self.at += 1;
            left = Expr::Compare(Box::new(left), op, Box::new(self.ordering()?));
        }
        Ok(left)
    }

    fn ordering(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        while let Some(Token::Compare(
            op @ (CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge),
        )) = self.peek()
        {
            let op = *op;
            self.at += 1;
            left = Expr::Compare(Box::new(left), op, Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat(&Token::Not) {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut expr = self.primary()?;
        loop {
            if self.eat(&Token::Dot) {
                match self.tokens.get(self.at).cloned() {
                    Some(Token::Ident(key)) => {
                        self.at += 1;
                        expr = Expr::Member(Box::new(expr), key);
                    }
                    // `x.true`, `x.null`: keywords are fine as property names.
                    Some(Token::Literal(v @ (Value::Bool(_) | Value::Null))) => {
                        self.at += 1;
                        let key = if v == Value::Null {
                            "null".into()
                        } else {
                            v.to_string()
                        };
                        expr = Expr::Member(Box::new(expr), key);
                    }
                    other => bail!("expected a property name after `.`, found {other:?}"),
                }
            } else if self.eat(&Token::LBracket) {
                let index = self.or()?;
                self.expect(&Token::RBracket)?;
                expr = Expr::Index(Box::new(expr), Box::new(index));
            } else {
                return Ok(expr);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            Some(Token::Literal(v)) => Ok(Expr::Literal(v)),
            Some(Token::LParen) => {
                let inner = self.or()?;
                self.expect(&Token::RParen)?;
                Ok(inner)
            }
            Some(Token::Ident(name)) => {
                if self.eat(&Token::LParen) {
                    let mut args = Vec::new();
                    if !self.eat(&Token::RParen) {
                        loop {
                            args.push(self.or()?);
                            if self.eat(&Token::RParen) {
                                break;
                            }
                            self.expect(&Token::Comma)?;
                        }
                    }
                    Ok(Expr::Call(name, args))
                } else {
                    Ok(Expr::Context(name))
                }
            }
            other => bail!("expected a value, found {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        status: Status,
    }

    impl Context for Fixture {
        fn context(&self, name: &str) -> Result<Value> {
            Ok(match name {
                "github" => Value::object([
                    ("event_name", Value::str("push")),
                    ("ref", Value::str("refs/heads/main")),
                    ("run_number", Value::Number(7.0)),
                    (
                        "event",
                        Value::object([(
                            "inputs",
                            Value::object([("rollback", Value::str("true"))]),
                        )]),
                    ),
                ]),
                "inputs" => Value::object([
                    ("rollback", Value::Bool(false)),
                    ("env", Value::str("staging")),
                ]),
                "needs" => Value::object([(
                    "build",
                    Value::object([
                        ("result", Value::str("success")),
                        ("outputs", Value::object([("tag", Value::str("v1.2.3"))])),
                    ]),
                )]),
                "env" | "vars" | "steps" => Value::Object(BTreeMap::new()),
                _ => bail!("unknown context `{name}`"),
            })
        }

        fn member(&self, name: &str, key: &str) -> Result<Value> {
            if name == "secrets" {
                return match key {
                    "TOKEN" => Ok(Value::str("s3cr3t")),
                    _ => bail!("no secret `{key}`"),
                };
            }
            Ok(self.context(name)?.get(key))
        }

        fn status(&self) -> Status {
            self.status
        }

        fn hash_files(&self, patterns: &[String]) -> Result<String> {
            Ok(if patterns == ["none/*"] {
                String::new()
            } else {
                "abc".into()
            })
        }
    }

    fn eval_with(text: &str, status: Status) -> Value {
        condition(text).unwrap().eval(&Fixture { status }).unwrap()
    }

    fn holds(text: &str) -> bool {
        eval_with(text, Status::default()).truthy()
    }

    fn value(text: &str) -> Value {
        parse(text)
            .unwrap()
            .eval(&Fixture {
                status: Status::default(),
            })
            .unwrap()
    }

    const FAILED: Status = Status {
        failed: true,
        cancelled: false,
        blocked: false,
    };
    const CANCELLED: Status = Status {
        failed: false,
        cancelled: true,
        blocked: false,
    };
    const BLOCKED: Status = Status {
        failed: false,
        cancelled: false,
        blocked: true,
    };

    #[test]
    fn status_functions() {
        assert!(holds("success()"));
        assert!(!holds("failure()"));
        assert!(eval_with("failure()", FAILED).truthy());
        assert!(!eval_with("success()", FAILED).truthy());
        assert!(eval_with("cancelled()", CANCELLED).truthy());
        assert!(!eval_with("cancelled()", FAILED).truthy());
        assert!(eval_with("always()", CANCELLED).truthy());
        assert!(eval_with("${{ always() }}", FAILED).truthy());
        assert!(!eval_with("success()", BLOCKED).truthy());
        assert!(!eval_with("failure()", BLOCKED).truthy());
    }

    #[test]
    fn a_condition_without_a_status_function_implies_success() {
        assert!(holds("github.event_name == 'push'"));
        assert!(!eval_with("github.event_name == 'push'", FAILED).truthy());
        assert!(!eval_with("${{ !inputs.rollback }}", CANCELLED).truthy());
        // With a status function the condition is taken as written.
        assert!(eval_with("failure() || github.event_name == 'push'", FAILED).truthy());
    }

    #[test]
    fn operators_and_precedence() {
        assert!(holds("!inputs.rollback"));
        assert!(holds("${{ !inputs.rollback }}"));
        assert!(!holds("!!inputs.rollback"));
        assert!(holds("true || false && false"));
        assert!(!holds("(true || false) && false"));
        assert!(holds(
            "github.ref != 'refs/heads/develop' && !inputs.rollback"
        ));
        assert!(holds("github.run_number > 6 && github.run_number <= 7"));
        assert!(holds("!(github.event_name == 'schedule')"));
        // `&&` and `||` yield an operand, not a bool.
        assert_eq!(value("inputs.env && 'yes'"), Value::str("yes"));
        assert_eq!(
            value("inputs.missing || 'fallback'"),
            Value::str("fallback")
        );
    }

    #[test]
    fn literals_and_loose_comparison() {
        assert_eq!(value("'it''s'"), Value::str("it's"));
        assert_eq!(value("null"), Value::Null);
        assert_eq!(value("-2.5"), Value::Number(-2.5));
        assert_eq!(value("0xff"), Value::Number(255.0));
        assert!(holds("'PUSH' == github.event_name"), "strings ignore case");
        assert!(holds("1 == '1'") && holds("true == 1") && holds("null == 0"));
        assert!(holds("'' == false"));
        assert!(!holds("'abc' == 0"), "NaN equals nothing");
        assert!(holds("github.event.inputs.rollback == 'true'"));
        assert!(holds("inputs.rollback == false"));
    }

    #[test]
    fn property_access() {
        assert_eq!(value("needs.build.result"), Value::str("success"));
        assert_eq!(value("needs.build.outputs.tag"), Value::str("v1.2.3"));
        assert_eq!(value("needs['build'].outputs['tag']"), Value::str("v1.2.3"));
        assert_eq!(value("github.EVENT_NAME"), Value::str("push"));
        assert_eq!(value("needs.deploy.result"), Value::Null);
        assert_eq!(value("secrets.TOKEN"), Value::str("s3cr3t"));
        let err = parse("secrets.TOKNE")
            .unwrap()
            .eval(&Fixture {
                status: Status::default(),
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "no secret `TOKNE`");
    }

    #[test]
    fn functions() {
        assert!(holds("contains(github.ref, 'MAIN')"));
        assert!(holds("startsWith(github.ref, 'refs/heads/')"));
        assert!(holds("endsWith(github.ref, '/main')"));
        assert_eq!(
            value("format('{0}-{1}', github.event_name, 7)"),
            Value::str("push-7")
        );
        assert!(holds("!cancelled() && hashFiles('target/*.sarif') != ''"));
        assert!(!holds("hashFiles('none/*') != ''"));
        assert!(
            parse("fromJSON('1')")
                .unwrap()
                .eval(&Fixture {
                    status: Status::default()
                })
                .is_err()
        );
    }

    #[test]
    fn substitution() {
        let ctx = Fixture {
            status: Status::default(),
        };
        assert_eq!(
            substitute(
                "deploy ${{ needs.build.outputs.tag }} on ${{github.ref}}!",
                &ctx
            )
            .unwrap(),
            "deploy v1.2.3 on refs/heads/main!"
        );
        assert_eq!(substitute("${{ '}}' }}", &ctx).unwrap(), "}}");
        assert_eq!(
            substitute("no expressions", &ctx).unwrap(),
            "no expressions"
        );
        assert_eq!(substitute("${{ inputs.rollback }}", &ctx).unwrap(), "false");
        assert!(substitute("${{ github.ref ", &ctx).is_err());
    }

    #[test]
    fn references_are_found_in_values_and_conditions() {
        assert_eq!(
            references(
                "${{ secrets.A }}-${{ format('{0}', secrets['B']) }}",
                "secrets",
                false
            )
            .unwrap(),
            ["A", "B"]
        );
        assert_eq!(
            references("vars.X == 'y' && always()", "vars", true).unwrap(),
            ["X"]
        );
        assert!(
            references("secrets.A", "secrets", false)
                .unwrap()
                .is_empty(),
            "no ${{ }}"
        );
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for bad in [
            "github.", "(true", "a ==", "'open", "a = b", "1 2", "f(a b)",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
    }
}
