//! A partial evaluator of Terraform configurations: what a plan would know without a provider.
//!
//! Starting from a root (an environment, with its `terraform.tfvars`), it evaluates locals,
//! resource and data-source arguments, module calls (with their arguments as the callee's
//! variables, recursively) and outputs, by repeating rounds until nothing changes. Everything
//! only AWS knows (ARNs, IDs, data-source answers) stays [`UNKNOWN`], and so does whatever is
//! built from it; everything else, names, ports, flags and policies included, comes out as the
//! value Terraform would use. The checks then judge the values each resource would really get.

use std::str::FromStr;

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::{ObjectKey, Variable};
use hcl::template::Element;
use hcl::{Block, Body, Expression, Map, Template, Value};

use crate::model::{Item, Module, Tree, attr, blocks};

/// The value of anything only known after apply, or that this evaluator can't compute.
pub const UNKNOWN: &str = "(known after apply)";

pub fn unknown() -> Value {
    Value::String(UNKNOWN.to_owned())
}

/// Whether `v` is, or contains, an unknown value.
pub fn is_unknown(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(UNKNOWN),
        Value::Array(items) => items.iter().any(is_unknown),
        Value::Object(map) => map.values().any(is_unknown),
        _ => false,
    }
}

const META_ARGUMENTS: &[&str] = &[
    "count",
    "for_each",
    "depends_on",
    "provider",
    "providers",
    "lifecycle",
    "source",
    "version",
];

/// A resource or data source of one module instance, evaluated.
#[derive(Clone, Debug)]
pub struct Resource {
    pub file: String,
    /// `resource` or `data`.
    pub mode: &'static str,
    pub ty: String,
    pub name: String,
    /// Each instance: its key (`None` without count/for_each, the index or key otherwise) and
    /// its arguments, nested blocks as arrays of objects.
    pub instances: Vec<(Option<String>, Value)>,
}

impl Resource {
    /// `aws_lb.this`, `aws_lb_target_group.this["backend-blue"]`, `data.aws_x.y[0]`.
    pub fn address(&self, key: &Option<String>) -> String {
        let prefix = if self.mode == "data" { "data." } else { "" };
        match key {
            None => format!("{prefix}{}.{}", self.ty, self.name),
            Some(k) if k.parse::<u64>().is_ok() => {
                format!("{prefix}{}.{}[{k}]", self.ty, self.name)
            }
            Some(k) => format!("{prefix}{}.{}[\"{k}\"]", self.ty, self.name),
        }
    }
}

/// One instance of a module: a root, or a module call inside one (recursively).
#[derive(Clone, Debug)]
pub struct Instance {
    /// The root directory: `environments/production`.
    pub root: String,
    /// The module's directory: `modules/alb` (the root's own for the root).
    pub dir: String,
    /// `module.alb`, `module.terraform_role["staging"]`; empty for the root itself.
    pub path: String,
    pub resources: Vec<Resource>,
    pub outputs: Map<String, Value>,
}

impl Instance {
    /// Where a finding about this instance points: `environments/production › module.alb`.
    pub fn describe(&self) -> String {
        if self.path.is_empty() {
            self.root.clone()
        } else {
            format!("{} › {}", self.root, self.path)
        }
    }

    pub fn resources_of<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.mode == "resource" && r.ty == ty)
    }

    pub fn data_of<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.mode == "data" && r.ty == ty)
    }
}

/// What only AWS would tell a plan, given instead: the account the configuration is applied
/// to. With it, `data.aws_caller_identity.*.account_id` and `data.aws_partition.*.partition`
/// are known, and so is everything built from them (the policies' ARNs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub account_id: String,
}

/// Evaluates the root module `dir` with its `terraform.tfvars`: the root instance first, then
/// every module instance under it.
pub fn evaluate_root(tree: &Tree, dir: &str) -> Vec<Instance> {
    evaluate_root_with(tree, dir, None)
}

/// [`evaluate_root`], with the account known.
pub fn evaluate_root_with(tree: &Tree, dir: &str, known: Option<&Known>) -> Vec<Instance> {
    let Some(module) = tree.module(dir) else {
        return Vec::new();
    };
    let mut given = Map::new();
    if let Some(tfvars) = &module.tfvars {
        let ctx = base_context();
        for a in tfvars.body.attributes() {
            given.insert(a.key().to_owned(), partial(a.expr(), &ctx));
        }
    }
    let mut out = Vec::new();
    let scope = Scope {
        templates: Value::Object(
            tree.templates
                .iter()
                .map(|(path, text)| (path.clone(), Value::from(text.clone())))
                .collect(),
        ),
        known: known.cloned(),
    };
    evaluate_module(tree, &scope, module, dir, String::new(), given, &mut out);
    out
}

/// What every module instance of one evaluation shares.
struct Scope {
    /// [`Tree::templates`], as a value `templatefile()` finds in the context.
    templates: Value,
    known: Option<Known>,
}

/// The context variable holding the templates: not a name a configuration would use.
const TEMPLATES_VAR: &str = "__eventflow_templates";

/// Evaluates one module instance whose variables are set to `given` (defaults fill the rest),
/// pushing it and its children onto `out`; returns its outputs.
fn evaluate_module(
    tree: &Tree,
    scope: &Scope,
    module: &Module,
    root: &str,
    path: String,
    given: Map<String, Value>,
    out: &mut Vec<Instance>,
) -> Map<String, Value> {
    let vars = variables(module, given);
    let mut state = State::default();
    let mut children: Vec<Instance> = Vec::new();
    // A module instance whose arguments didn't change since the last round gives the same
    // result: (call path, arguments) → (outputs, instances).
    type Evaluated = (Map<String, Value>, Vec<Instance>);
    let mut memo: std::collections::HashMap<String, (Map<String, Value>, Evaluated)> =
        std::collections::HashMap::new();
    // Each round evaluates everything with what the previous round knew; a chain of N
    // references needs N rounds. Real configurations settle in well under 20.
    for _ in 0..20 {
        let ctx = state.context(&vars, scope, &module.dir, root);
        let mut next = State::default();
        for (_, name, e) in module.locals() {
            next.locals.insert(name.to_owned(), partial(e, &ctx));
        }
        for mode in ["resource", "data"] {
            for item in module.blocks(mode) {
                let mut instances = resource_instances(&item, &ctx);
                if mode == "data"
                    && let Some(known) = &scope.known
                {
                    known.answer(item.label(0), &mut instances);
                }
                next.insert(mode, &item, instances);
            }
        }
        children.clear();
        for call in module.blocks("module") {
            let name = call.label(0).to_owned();
            let Some(callee) = module.source_of(&call).and_then(|d| tree.module(&d)) else {
                continue;
            };
            let mut outputs = Map::new();
            for (key, each) in expansions(&call, &ctx) {
                let ctx = with_iteration(&ctx, &key, each);
                let mut args = Map::new();
                for a in call.block.body().attributes() {
                    if !META_ARGUMENTS.contains(&a.key()) {
                        args.insert(a.key().to_owned(), partial(a.expr(), &ctx));
                    }
                }
                let child_path = match &key {
                    None => format!("{}module.{name}", prefix(&path)),
                    Some(k) => format!("{}module.{name}[\"{k}\"]", prefix(&path)),
                };
                let child_outputs = match memo.get(&child_path) {
                    Some((seen, (outputs, instances))) if *seen == args => {
                        children.extend(instances.iter().cloned());
                        outputs.clone()
                    }
                    _ => {
                        let mut instances = Vec::new();
                        let outputs = evaluate_module(
                            tree,
                            scope,
                            callee,
                            root,
                            child_path.clone(),
                            args.clone(),
                            &mut instances,
                        );
                        children.extend(instances.iter().cloned());
                        memo.insert(child_path, (args, (outputs.clone(), instances)));
                        outputs
                    }
                };
                match key {
                    None => outputs = child_outputs,
                    Some(k) => {
                        outputs.insert(k, Value::Object(child_outputs));
                    }
                }
            }
            next.modules.insert(name, Value::Object(outputs));
        }
        let settled = next == state;
        state = next;
        if settled {
            break;
        }
    }
    let ctx = state.context(&vars, scope, &module.dir, root);
    let mut outputs = Map::new();
    for item in module.blocks("output") {
        let value = item.attr("value").map_or(Value::Null, |e| partial(e, &ctx));
        outputs.insert(item.label(0).to_owned(), value);
    }
    out.push(Instance {
        root: root.to_owned(),
        dir: module.dir.clone(),
        path,
        resources: state.resources,
        outputs: outputs.clone(),
    });
    out.append(&mut children);
    outputs
}

fn prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    }
}

fn variables(module: &Module, mut given: Map<String, Value>) -> Map<String, Value> {
    let ctx = base_context();
    let mut vars = Map::new();
    for item in module.blocks("variable") {
        let name = item.label(0);
        let value = match given.shift_remove(name) {
            Some(v) => v,
            None => item
                .attr("default")
                .map_or_else(unknown, |e| partial(e, &ctx)),
        };
        vars.insert(name.to_owned(), value);
    }
    vars
}

#[derive(Clone, Debug, Default, PartialEq)]
struct State {
    locals: Map<String, Value>,
    /// resource type → name → value (object, array for count, object by key for for_each)
    managed: Map<String, Map<String, Value>>,
    data: Map<String, Map<String, Value>>,
    modules: Map<String, Value>,
    resources: Vec<Resource>,
}

impl PartialEq for Resource {
    fn eq(&self, other: &Resource) -> bool {
        self.mode == other.mode
            && self.ty == other.ty
            && self.name == other.name
            && self.instances == other.instances
    }
}

impl State {
    fn insert(&mut self, mode: &'static str, item: &Item<'_>, instances: Expanded) {
        let (ty, name) = (item.label(0).to_owned(), item.label(1).to_owned());
        let value = match &instances {
            Expanded::Single(v) => v.clone(),
            Expanded::Count(items) => Value::Array(items.clone()),
            Expanded::ForEach(map) => Value::Object(map.clone()),
            Expanded::Unknown => unknown(),
        };
        let table = if mode == "data" {
            &mut self.data
        } else {
            &mut self.managed
        };
        table
            .entry(ty.clone())
            .or_default()
            .insert(name.clone(), value);
        let instances = match instances {
            Expanded::Single(v) => vec![(None, v)],
            Expanded::Count(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Some(i.to_string()), v))
                .collect(),
            Expanded::ForEach(map) => map.into_iter().map(|(k, v)| (Some(k), v)).collect(),
            Expanded::Unknown => Vec::new(),
        };
        self.resources.push(Resource {
            file: item.file.to_owned(),
            mode,
            ty,
            name,
            instances,
        });
    }

    fn context(
        &self,
        vars: &Map<String, Value>,
        scope: &Scope,
        module_dir: &str,
        root: &str,
    ) -> Context<'static> {
        let mut ctx = base_context();
        // `path.module` and `path.root`, relative to `infrastructure/` (what templatefile() reads).
        let mut path = Map::new();
        path.insert("module".to_owned(), Value::from(module_dir));
        path.insert("root".to_owned(), Value::from(root));
        ctx.declare_var("path", Value::Object(path));
        ctx.declare_var(TEMPLATES_VAR, scope.templates.clone());
        ctx.declare_var("var", Value::Object(vars.clone()));
        ctx.declare_var("local", Value::Object(self.locals.clone()));
        ctx.declare_var("module", Value::Object(self.modules.clone()));
        let data: Map<String, Value> = self
            .data
            .iter()
            .map(|(k, v)| (k.clone(), Value::Object(v.clone())))
            .collect();
        ctx.declare_var("data", Value::Object(data));
        for (ty, by_name) in &self.managed {
            ctx.declare_var(ty.as_str(), Value::Object(by_name.clone()));
        }
        ctx
    }
}

impl Known {
    /// Fills in the attributes of the data sources that answer with the account.
    fn answer(&self, ty: &str, instances: &mut Expanded) {
        let attribute = match ty {
            "aws_caller_identity" => ("account_id", self.account_id.as_str()),
            "aws_partition" => ("partition", "aws"),
            _ => return,
        };
        if let Expanded::Single(Value::Object(map)) = instances {
            map.insert(attribute.0.to_owned(), Value::from(attribute.1));
        }
    }
}

enum Expanded {
    Single(Value),
    Count(Vec<Value>),
    ForEach(Map<String, Value>),
    Unknown,
}

/// The instances a block with `count` or `for_each` stands for: `None` for a single one.
fn expansions(item: &Item<'_>, ctx: &Context<'_>) -> Vec<(Option<String>, Option<Value>)> {
    if let Some(e) = item.attr("for_each") {
        return match partial(e, ctx) {
            Value::Object(map) if !is_unknown_key_set(&map) => {
                map.into_iter().map(|(k, v)| (Some(k), Some(v))).collect()
            }
            Value::Array(items) if !items.iter().any(is_unknown) => items
                .into_iter()
                .map(|v| (Some(as_text(&v)), Some(v)))
                .collect(),
            _ => Vec::new(),
        };
    }
    if let Some(e) = item.attr("count") {
        return match partial(e, ctx).as_u64() {
            Some(n) => (0..n)
                .map(|i| (Some(i.to_string()), Some(Value::from(i))))
                .collect(),
            None => Vec::new(),
        };
    }
    vec![(None, None)]
}

fn is_unknown_key_set(map: &Map<String, Value>) -> bool {
    map.keys().any(|k| k.contains(UNKNOWN))
}

fn with_iteration<'a>(ctx: &Context<'a>, key: &Option<String>, each: Option<Value>) -> Context<'a> {
    let mut ctx = ctx.clone();
    if let (Some(key), Some(value)) = (key, each) {
        if let Ok(index) = key.parse::<u64>()
            && value.as_u64() == Some(index)
        {
            let mut count = Map::new();
            count.insert("index".to_owned(), Value::from(index));
            ctx.declare_var("count", Value::Object(count));
        }
        let mut each = Map::new();
        each.insert("key".to_owned(), Value::from(key.clone()));
        each.insert("value".to_owned(), value);
        ctx.declare_var("each", Value::Object(each));
    }
    ctx
}

fn resource_instances(item: &Item<'_>, ctx: &Context<'_>) -> Expanded {
    let has_count = item.attr("count").is_some();
    let has_for_each = item.attr("for_each").is_some();
    let expansions = expansions(item, ctx);
    if (has_count || has_for_each) && expansions.is_empty() {
        // Zero instances, or an unknown collection: tell the two apart.
        let e = item.attr("for_each").or(item.attr("count"));
        let v = e.map(|e| partial(e, ctx)).unwrap_or(Value::Null);
        let empty = matches!(&v, Value::Array(a) if a.is_empty())
            || matches!(&v, Value::Object(o) if o.is_empty())
            || v.as_u64() == Some(0);
        if !empty {
            return Expanded::Unknown;
        }
    }
    let mut single = None;
    let mut counted = Vec::new();
    let mut keyed = Map::new();
    for (key, each) in expansions {
        let ctx = with_iteration(ctx, &key, each);
        let value = evaluate_body(item.block.body(), &ctx);
        match key {
            None => single = Some(value),
            Some(_) if has_count => counted.push(value),
            Some(k) => {
                keyed.insert(k, value);
            }
        }
    }
    if has_count {
        Expanded::Count(counted)
    } else if has_for_each {
        Expanded::ForEach(keyed)
    } else {
        Expanded::Single(single.unwrap_or(Value::Null))
    }
}

/// A block body as an object: its arguments, and each kind of nested block as an array of
/// objects (`dynamic` blocks expanded).
pub fn evaluate_body(body: &Body, ctx: &Context<'_>) -> Value {
    let mut map = Map::new();
    for a in body.attributes() {
        if !META_ARGUMENTS.contains(&a.key()) {
            map.insert(a.key().to_owned(), partial(a.expr(), ctx));
        }
    }
    for block in body.blocks() {
        match block.identifier() {
            "lifecycle" => {}
            "dynamic" => {
                let name = block.labels().first().map_or("", |l| l.as_str()).to_owned();
                let expanded = expand_dynamic(block, &name, ctx);
                push_block(&mut map, &name, expanded);
            }
            ident => {
                let value = evaluate_body(block.body(), ctx);
                push_block(&mut map, ident, vec![value]);
            }
        }
    }
    Value::Object(map)
}

fn push_block(map: &mut Map<String, Value>, ident: &str, values: Vec<Value>) {
    let entry = map
        .entry(ident.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = entry {
        items.extend(values);
    }
}

fn expand_dynamic(block: &Block, name: &str, ctx: &Context<'_>) -> Vec<Value> {
    let body = block.body();
    let iterator = match attr(body, "iterator") {
        Some(Expression::Variable(v)) => v.to_string(),
        _ => name.to_owned(),
    };
    let items: Vec<(Value, Value)> = match attr(body, "for_each").map(|e| partial(e, ctx)) {
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Value::from(i as u64), v))
            .collect(),
        Some(Value::Object(map)) => map.into_iter().map(|(k, v)| (Value::from(k), v)).collect(),
        // An unknown collection: one instance whose values are unknown, so it isn't lost.
        _ => vec![(unknown(), unknown())],
    };
    let Some(content) = blocks(body, "content").next() else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|(key, value)| {
            let mut ctx = ctx.clone();
            let mut it = Map::new();
            it.insert("key".to_owned(), key);
            it.insert("value".to_owned(), value);
            ctx.declare_var(iterator.as_str(), Value::Object(it));
            evaluate_body(content.body(), &ctx)
        })
        .collect()
}

/// Evaluates `e`, keeping what is known: arrays and objects element by element, a conditional
/// through its chosen branch, `jsonencode(…)` as the JSON of its partly known argument. Anything
/// else that fails to evaluate is [`UNKNOWN`].
pub fn partial(e: &Expression, ctx: &Context<'_>) -> Value {
    match e {
        Expression::Array(items) => Value::Array(items.iter().map(|i| partial(i, ctx)).collect()),
        Expression::Object(object) => {
            let mut map = Map::new();
            for (key, value) in object {
                let key = match key {
                    ObjectKey::Identifier(id) => id.to_string(),
                    ObjectKey::Expression(k) => as_text(&partial(k, ctx)),
                    _ => UNKNOWN.to_owned(),
                };
                map.insert(key, partial(value, ctx));
            }
            Value::Object(map)
        }
        Expression::Parenthesis(inner) => partial(inner, ctx),
        Expression::Conditional(c) => match partial(&c.cond_expr, ctx) {
            Value::Bool(true) => partial(&c.true_expr, ctx),
            Value::Bool(false) => partial(&c.false_expr, ctx),
            _ => unknown(),
        },
        Expression::FuncCall(call)
            if call.name.name.as_str() == "jsonencode" && call.args.len() == 1 =>
        {
            let value = partial(&call.args[0], ctx);
            Value::String(to_json(&value).to_string())
        }
        Expression::FuncCall(call)
            if call.name.name.as_str() == "templatefile" && call.args.len() == 2 =>
        {
            templatefile(
                &partial(&call.args[0], ctx),
                partial(&call.args[1], ctx),
                ctx,
            )
        }
        Expression::FuncCall(call) => {
            // The arguments partly known, the function applied to them: merge() of objects
            // with unknown values still has known keys.
            let mut args: Vec<Value> = call.args.iter().map(|a| partial(a, ctx)).collect();
            if call.expand_final {
                match args.pop() {
                    Some(Value::Array(items)) => args.extend(items),
                    _ => return unknown(),
                }
            }
            let mut literal = hcl::expr::FuncCall::new(call.name.clone());
            literal.args = args.into_iter().map(Expression::from).collect();
            literal.evaluate(ctx).unwrap_or_else(|_| unknown())
        }
        Expression::ForExpr(fe) if !fe.grouping => partial_for(fe, ctx),
        other => other.evaluate(ctx).unwrap_or_else(|_| unknown()),
    }
}

/// `templatefile(path, vars)`: the template (from the tree, `path` relative to
/// `infrastructure/` through `path.module`) rendered with `vars` as its only variables. Literal
/// text and `${…}` interpolations are rendered; a template with `%{…}` directives is
/// [`UNKNOWN`] (write conditions as expressions inside one `${jsonencode(…)}` instead).
fn templatefile(path: &Value, vars: Value, ctx: &Context<'_>) -> Value {
    let (Value::String(path), Value::Object(vars)) = (path, vars) else {
        return unknown();
    };
    let Some(path) = normalize(path) else {
        return unknown();
    };
    let templates = Expression::Variable(Variable::unchecked(TEMPLATES_VAR))
        .evaluate(ctx)
        .unwrap_or(Value::Null);
    let Some(text) = field(&templates, &[path.as_str()]).and_then(Value::as_str) else {
        return unknown();
    };
    let Ok(template) = Template::from_str(text) else {
        return unknown();
    };
    let mut template_ctx = base_context();
    for (name, value) in vars {
        template_ctx.declare_var(name, value);
    }
    let mut out = String::new();
    for element in template.elements() {
        match element {
            Element::Literal(text) => out.push_str(text),
            Element::Interpolation(i) => out.push_str(&as_text(&partial(&i.expr, &template_ctx))),
            Element::Directive(_) => return unknown(),
        }
    }
    Value::String(out)
}

/// `modules/github-oidc/../../policies/x.tftpl` is `policies/x.tftpl`.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
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

/// A `for` expression element by element, so that one unknown element doesn't hide the rest.
fn partial_for(fe: &hcl::expr::ForExpr, ctx: &Context<'_>) -> Value {
    let items: Vec<(Value, Value)> = match partial(&fe.collection_expr, ctx) {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Value::from(i as u64), v))
            .collect(),
        Value::Object(map) => map.into_iter().map(|(k, v)| (Value::from(k), v)).collect(),
        _ => return unknown(),
    };
    let mut list = Vec::new();
    let mut map = Map::new();
    for (key, value) in items {
        let mut ctx = ctx.clone();
        if let Some(k) = &fe.key_var {
            ctx.declare_var(k.clone(), key);
        }
        ctx.declare_var(fe.value_var.clone(), value);
        if let Some(cond) = &fe.cond_expr {
            match partial(cond, &ctx) {
                Value::Bool(true) => {}
                Value::Bool(false) => continue,
                _ => return unknown(),
            }
        }
        let value = partial(&fe.value_expr, &ctx);
        match &fe.key_expr {
            Some(k) => {
                map.insert(as_text(&partial(k, &ctx)), value);
            }
            None => list.push(value),
        }
    }
    if fe.key_expr.is_some() {
        Value::Object(map)
    } else {
        Value::Array(list)
    }
}

/// The value at `path` inside `v`: object keys, or array indexes as numbers.
pub fn field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut v = v;
    for step in path {
        v = match v {
            Value::Object(map) => map.get(*step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// A value as text, the way Terraform turns keys and `for_each` elements into strings.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An HCL value as JSON.
pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else {
                n.as_f64()
                    .map_or(serde_json::Value::Null, serde_json::Value::from)
            }
        }
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<serde_json::Map<_, _>>(),
        ),
    }
}

// ---- Terraform's functions, those the configurations use to compute names and policies ------

fn base_context() -> Context<'static> {
    let mut ctx = Context::new();
    let any = || ParamType::Any;
    let variadic = |f: fn(FuncArgs) -> Result<Value, String>| {
        FuncDef::builder().variadic_param(ParamType::Any).build(f)
    };
    ctx.declare_func("merge", variadic(merge));
    ctx.declare_func("concat", variadic(concat));
    ctx.declare_func("keys", FuncDef::builder().param(any()).build(keys));
    ctx.declare_func("values", FuncDef::builder().param(any()).build(values));
    ctx.declare_func("sort", FuncDef::builder().param(any()).build(sort));
    ctx.declare_func("toset", FuncDef::builder().param(any()).build(toset));
    ctx.declare_func("distinct", FuncDef::builder().param(any()).build(toset));
    ctx.declare_func("tolist", FuncDef::builder().param(any()).build(identity));
    ctx.declare_func("tomap", FuncDef::builder().param(any()).build(identity));
    ctx.declare_func("flatten", FuncDef::builder().param(any()).build(flatten));
    ctx.declare_func("length", FuncDef::builder().param(any()).build(length));
    ctx.declare_func(
        "contains",
        FuncDef::builder().param(any()).param(any()).build(contains),
    );
    ctx.declare_func("setproduct", variadic(setproduct));
    ctx.declare_func("alltrue", FuncDef::builder().param(any()).build(alltrue));
    ctx.declare_func(
        "trimprefix",
        FuncDef::builder()
            .param(any())
            .param(any())
            .build(trimprefix),
    );
    ctx.declare_func(
        "replace",
        FuncDef::builder()
            .param(any())
            .param(any())
            .param(any())
            .build(replace),
    );
    ctx
}

fn identity(args: FuncArgs) -> Result<Value, String> {
    Ok(args.into_values().remove(0))
}

fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = Map::new();
    for v in args.into_values() {
        match v {
            Value::Object(map) => out.extend(map),
            Value::Null => {}
            _ => return Err("merge takes objects".into()),
        }
    }
    Ok(Value::Object(out))
}

fn concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for v in args.into_values() {
        match v {
            Value::Array(items) => out.extend(items),
            _ => return Err("concat takes lists".into()),
        }
    }
    Ok(Value::Array(out))
}

fn sorted_entries(v: Value) -> Result<Vec<(String, Value)>, String> {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(entries)
        }
        _ => Err("expects a map".into()),
    }
}

fn keys(args: FuncArgs) -> Result<Value, String> {
    let entries = sorted_entries(args.into_values().remove(0))?;
    Ok(Value::Array(
        entries.into_iter().map(|(k, _)| Value::from(k)).collect(),
    ))
}

fn values(args: FuncArgs) -> Result<Value, String> {
    let entries = sorted_entries(args.into_values().remove(0))?;
    Ok(Value::Array(entries.into_iter().map(|(_, v)| v).collect()))
}

fn sort(args: FuncArgs) -> Result<Value, String> {
    match args.into_values().remove(0) {
        Value::Array(mut items) => {
            items.sort_by_key(as_text);
            Ok(Value::Array(items))
        }
        _ => Err("sort takes a list".into()),
    }
}

fn toset(args: FuncArgs) -> Result<Value, String> {
    match args.into_values().remove(0) {
        Value::Array(items) => {
            let mut out: Vec<Value> = Vec::new();
            for item in items {
                if !out.contains(&item) {
                    out.push(item);
                }
            }
            if out.iter().all(Value::is_string) {
                out.sort_by_key(as_text);
            }
            Ok(Value::Array(out))
        }
        _ => Err("expects a list".into()),
    }
}

fn flatten(args: FuncArgs) -> Result<Value, String> {
    fn go(v: Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(items) => items.into_iter().for_each(|i| go(i, out)),
            other => out.push(other),
        }
    }
    let mut out = Vec::new();
    go(args.into_values().remove(0), &mut out);
    Ok(Value::Array(out))
}

/// The known strings of a string function's arguments (an unknown one fails the call).
fn known_strings(args: &FuncArgs) -> Result<Vec<&str>, String> {
    args.iter()
        .map(|a| match a {
            Value::String(s) if !s.contains(UNKNOWN) => Ok(s.as_str()),
            _ => Err("a string function of an unknown value".to_owned()),
        })
        .collect()
}

fn trimprefix(args: FuncArgs) -> Result<Value, String> {
    let [s, prefix] = known_strings(&args)?[..] else {
        return Err("trimprefix takes a string and a prefix".into());
    };
    Ok(Value::from(s.strip_prefix(prefix).unwrap_or(s)))
}

/// Terraform's `replace` with a plain substring (not a `/regex/`).
fn replace(args: FuncArgs) -> Result<Value, String> {
    let [s, from, to] = known_strings(&args)?[..] else {
        return Err("replace takes a string, a substring and its replacement".into());
    };
    if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
        return Err("replace with a regular expression is not evaluated".into());
    }
    Ok(Value::from(s.replace(from, to)))
}

fn length(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Array(items) => Ok(Value::from(items.len() as u64)),
        Value::Object(map) => Ok(Value::from(map.len() as u64)),
        Value::String(s) if !s.contains(UNKNOWN) => Ok(Value::from(s.chars().count() as u64)),
        _ => Err("length of an unknown value".into()),
    }
}

fn contains(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Array(items) => Ok(Value::Bool(items.contains(&args[1]))),
        _ => Err("contains takes a list".into()),
    }
}

fn setproduct(args: FuncArgs) -> Result<Value, String> {
    let mut product: Vec<Vec<Value>> = vec![Vec::new()];
    for v in args.into_values() {
        let Value::Array(items) = v else {
            return Err("setproduct takes lists".into());
        };
        product = product
            .into_iter()
            .flat_map(|prefix| {
                items.iter().map(move |item| {
                    let mut next = prefix.clone();
                    next.push(item.clone());
                    next
                })
            })
            .collect();
    }
    Ok(Value::Array(
        product.into_iter().map(Value::Array).collect(),
    ))
}

fn alltrue(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Array(items) => Ok(Value::Bool(items.iter().all(|v| v.as_bool() == Some(true)))),
        _ => Err("alltrue takes a list".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(main: &str, vars: &str) -> Vec<Instance> {
        let tree = Tree::from_sources(&[
            ("environments/test/main.tf", main),
            ("environments/test/terraform.tfvars", vars),
            (
                "modules/m/main.tf",
                r#"
                variable "names" { type = list(string) }
                variable "suffix" { default = "x" }
                resource "aws_thing" "this" {
                  for_each = toset(var.names)
                  name     = "${each.value}-${var.suffix}"
                  block { flag = true }
                }
                output "names" { value = { for k, t in aws_thing.this : k => t.name } }
                output "arns" { value = { for k, t in aws_thing.this : k => t.arn } }
                "#,
            ),
        ])
        .unwrap();
        evaluate_root(&tree, "environments/test")
    }

    #[test]
    fn values_flow_from_tfvars_through_modules_to_outputs() {
        let instances = root(
            r#"
            variable "env" {}
            locals { prefix = "eventflow-${var.env}" }
            module "m" {
              source = "../../modules/m"
              names  = [for n in ["b", "a"] : "${local.prefix}-${n}"]
            }
            output "names" { value = module.m.names }
            output "arns" { value = module.m.arns }
            output "pick" { value = var.env == "prod" ? "p" : "s" }
            "#,
            r#"env = "staging""#,
        );
        let root = &instances[0];
        let names = root.outputs["names"].as_object().unwrap();
        assert_eq!(
            names["eventflow-staging-a"],
            Value::from("eventflow-staging-a-x")
        );
        assert!(is_unknown(&root.outputs["arns"]));
        assert_eq!(root.outputs["pick"], Value::from("s"));
        let child = &instances[1];
        assert_eq!(child.path, "module.m");
        let thing = child.resources_of("aws_thing").next().unwrap();
        assert_eq!(thing.instances.len(), 2);
        assert_eq!(
            thing.address(&thing.instances[0].0),
            "aws_thing.this[\"eventflow-staging-a\"]"
        );
        assert_eq!(
            field(&thing.instances[0].1, &["block", "0", "flag"]),
            Some(&Value::Bool(true))
        );
    }

    #[test]
    fn jsonencode_keeps_what_is_known() {
        let tree = Tree::from_sources(&[(
            "environments/t/main.tf",
            r#"
            resource "aws_x" "y" {
              doc = jsonencode({ a = 1, b = aws_z.q.arn, c = [for s in ["p"] : { name = s }] })
            }
            "#,
        )])
        .unwrap();
        let instances = evaluate_root(&tree, "environments/t");
        let doc = field(&instances[0].resources[0].instances[0].1, &["doc"])
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let json: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(json["a"], 1);
        assert_eq!(json["b"], UNKNOWN);
        assert_eq!(json["c"][0]["name"], "p");
    }
}
