//! Visiting every expression of a body, including those inside string templates.

use hcl::expr::{ObjectKey, TemplateExpr, TraversalOperator};
use hcl::template::{Directive, Element};
use hcl::{Body, Expression, Template};

/// Calls `f` on every expression in `body` (attribute values and everything inside them, in
/// nested blocks too).
pub fn body(body: &Body, f: &mut dyn FnMut(&Expression)) {
    for attr in body.attributes() {
        expr(attr.expr(), f);
    }
    for block in body.blocks() {
        self::body(block.body(), f);
    }
}

/// Calls `f` on `e` and on every expression inside it.
pub fn expr(e: &Expression, f: &mut dyn FnMut(&Expression)) {
    f(e);
    match e {
        Expression::Array(items) => items.iter().for_each(|i| expr(i, f)),
        Expression::Object(object) => {
            for (key, value) in object {
                if let ObjectKey::Expression(k) = key {
                    expr(k, f);
                }
                expr(value, f);
            }
        }
        Expression::TemplateExpr(t) => template_expr(t, f),
        Expression::Traversal(t) => {
            expr(&t.expr, f);
            for op in &t.operators {
                if let TraversalOperator::Index(i) = op {
                    expr(i, f);
                }
            }
        }
        Expression::FuncCall(call) => call.args.iter().for_each(|a| expr(a, f)),
        Expression::Parenthesis(inner) => expr(inner, f),
        Expression::Conditional(c) => {
            expr(&c.cond_expr, f);
            expr(&c.true_expr, f);
            expr(&c.false_expr, f);
        }
        Expression::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Unary(u) => expr(&u.expr, f),
            hcl::expr::Operation::Binary(b) => {
                expr(&b.lhs_expr, f);
                expr(&b.rhs_expr, f);
            }
        },
        Expression::ForExpr(fe) => {
            expr(&fe.collection_expr, f);
            if let Some(k) = &fe.key_expr {
                expr(k, f);
            }
            expr(&fe.value_expr, f);
            if let Some(c) = &fe.cond_expr {
                expr(c, f);
            }
        }
        _ => {}
    }
}

fn template_expr(t: &TemplateExpr, f: &mut dyn FnMut(&Expression)) {
    if let Ok(template) = Template::from_expr(t) {
        walk_template(&template, f);
    }
}

fn walk_template(template: &Template, f: &mut dyn FnMut(&Expression)) {
    for element in template.elements() {
        match element {
            Element::Literal(_) => {}
            Element::Interpolation(i) => expr(&i.expr, f),
            Element::Directive(d) => match d.as_ref() {
                Directive::If(d) => {
                    expr(&d.cond_expr, f);
                    walk_template(&d.true_template, f);
                    if let Some(t) = &d.false_template {
                        walk_template(t, f);
                    }
                }
                Directive::For(d) => {
                    expr(&d.collection_expr, f);
                    walk_template(&d.template, f);
                }
            },
        }
    }
}

/// A reference as its path: `var.x` is `["var", "x"]`, `module.alb.arns["a"]` is
/// `["module", "alb", "arns", "a"]`, `aws_lb.this[0].arn` is `["aws_lb", "this", "[]", "arn"]`.
/// `None` for anything that is not a reference.
pub fn reference(e: &Expression) -> Option<Vec<String>> {
    match e {
        Expression::Variable(v) => Some(vec![v.to_string()]),
        Expression::Traversal(t) => {
            let mut path = reference(&t.expr)?;
            for op in &t.operators {
                match op {
                    TraversalOperator::GetAttr(name) => path.push(name.to_string()),
                    TraversalOperator::Index(Expression::String(s)) => path.push(s.clone()),
                    TraversalOperator::Index(_)
                    | TraversalOperator::LegacyIndex(_)
                    | TraversalOperator::AttrSplat
                    | TraversalOperator::FullSplat => path.push("[]".to_owned()),
                }
            }
            Some(path)
        }
        _ => None,
    }
}

/// Every reference in `body` (see [`reference`]); a traversal counts once, not also its root.
pub fn references(body: &Body) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    self::body(body, &mut |e| {
        if let Some(path) = reference(e) {
            found.push(path);
        }
    });
    dedup_prefixes(found)
}

/// Every reference in `e`.
pub fn expr_references(e: &Expression) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    expr(e, &mut |e| {
        if let Some(path) = reference(e) {
            found.push(path);
        }
    });
    dedup_prefixes(found)
}

// `expr` visits a traversal and then its root variable; keep the longer path only.
fn dedup_prefixes(found: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for path in found {
        if let Some(last) = out.last()
            && path.len() == 1
            && last.len() > 1
            && last[0] == path[0]
        {
            continue;
        }
        out.push(path);
    }
    out
}

/// Every string literal and literal object key in `e` (not inside templates' interpolations).
pub fn literals(e: &Expression) -> Vec<String> {
    let mut found = Vec::new();
    expr(e, &mut |e| match e {
        Expression::String(s) => found.push(s.clone()),
        Expression::Object(object) => {
            for key in object.keys() {
                if let ObjectKey::Identifier(id) = key {
                    found.push(id.to_string());
                }
            }
        }
        Expression::TemplateExpr(t) => {
            if let Ok(template) = Template::from_expr(t) {
                for element in template.elements() {
                    if let Element::Literal(l) = element {
                        found.push(l.clone());
                    }
                }
            }
        }
        _ => {}
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Body {
        hcl::parse(text).unwrap()
    }

    #[test]
    fn references_are_found_inside_templates_and_blocks() {
        let body = parse(
            r#"
            a = "${var.name}-${local.x}"
            b { c = [for k, v in module.m.out : v.y if k != var.skip] }
            d = aws_lb.this[0].arn
            e = data.aws_x.y["k"].z
            "#,
        );
        let refs: Vec<String> = references(&body).iter().map(|r| r.join(".")).collect();
        for wanted in [
            "var.name",
            "local.x",
            "module.m.out",
            "var.skip",
            "aws_lb.this.[].arn",
            "data.aws_x.y.k.z",
        ] {
            assert!(
                refs.contains(&wanted.to_owned()),
                "{wanted} not in {refs:?}"
            );
        }
    }
}
