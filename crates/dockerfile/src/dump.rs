//! Printing the raw syntax tree, for `kiln parse` and for fixture tests.
//!
//! Owns the stable JSON shape documented in `docs/parse-json.md`:
//!
//! ```json
//! {"directives": {"syntax": "docker/dockerfile:1"},
//!  "instructions": [{"keyword": "run", "flags": ["--network=none"], "args": ["make"],
//!                    "json": false, "start_line": 2, "end_line": 2, "heredocs": []}]}
//! ```
//!
//! `args` holds strings, except for ENV and LABEL where it holds `[key, value, sep]` triples
//! (`sep` is `"="` or `""` for the legacy `ENV k v` form). Each heredoc is
//! `{"name", "content", "expand", "chomp"}` with the body as written. `trigger` appears only on
//! ONBUILD and holds the triggered instruction in the same shape. Also owns a compact text
//! form for people.

use serde_json::{Map, Value, json};

use crate::ast::{Args, Ast, Node};

/// The JSON document for `ast`.
pub fn to_json(ast: &Ast) -> Value {
    let directives: Map<String, Value> = ast
        .directives
        .iter()
        .map(|d| (d.name.clone(), Value::String(d.value.clone())))
        .collect();
    json!({
        "directives": directives,
        "instructions": ast.instructions.iter().map(node_json).collect::<Vec<_>>(),
    })
}

fn node_json(node: &Node) -> Value {
    let args = match &node.args {
        Args::List(l) => json!(l),
        Args::Pairs(p) => p
            .iter()
            .map(|kv| json!([kv.key, kv.value, kv.sep]))
            .collect(),
    };
    let heredocs: Vec<Value> = node
        .heredocs
        .iter()
        .map(
            |h| json!({"name": h.name, "content": h.content, "expand": h.expand, "chomp": h.chomp}),
        )
        .collect();
    let mut out = Map::new();
    out.insert("keyword".into(), json!(node.keyword.lower()));
    out.insert("flags".into(), json!(node.flags));
    out.insert("args".into(), args);
    out.insert("json".into(), json!(node.json));
    out.insert("start_line".into(), json!(node.span.start_line));
    out.insert("end_line".into(), json!(node.span.end_line));
    out.insert("heredocs".into(), Value::Array(heredocs));
    if let Some(trigger) = &node.trigger {
        out.insert("trigger".into(), node_json(trigger));
    }
    Value::Object(out)
}

/// A compact listing: directives, then one line per instruction (`lines KEYWORD flags args`,
/// arguments quoted), heredoc bodies indented under their instruction.
pub fn to_text(ast: &Ast) -> String {
    let mut out = String::new();
    for d in &ast.directives {
        out.push_str(&format!("# {}={}\n", d.name, d.value));
    }
    for node in &ast.instructions {
        node_text(node, &mut out, "");
    }
    out
}

fn node_text(node: &Node, out: &mut String, indent: &str) {
    let lines = if node.span.start_line == node.span.end_line {
        node.span.start_line.to_string()
    } else {
        format!("{}-{}", node.span.start_line, node.span.end_line)
    };
    let mut line = format!("{indent}{lines} {}", node.keyword);
    for flag in &node.flags {
        if flag.contains(char::is_whitespace) {
            line.push_str(&format!(" {flag:?}"));
        } else {
            line.push(' ');
            line.push_str(flag);
        }
    }
    if node.json {
        line.push_str(" (exec)");
    }
    match &node.args {
        Args::List(l) if node.trigger.is_none() => {
            for a in l {
                line.push_str(&format!(" {a:?}"));
            }
        }
        Args::List(_) => {}
        Args::Pairs(p) => {
            for kv in p {
                let sep = if kv.sep.is_empty() { " " } else { kv.sep };
                line.push_str(&format!(" {:?}{sep}{:?}", kv.key, kv.value));
            }
        }
    }
    out.push_str(&line);
    out.push('\n');
    if let Some(trigger) = &node.trigger {
        node_text(trigger, out, &format!("{indent}  "));
    }
    for h in &node.heredocs {
        let mut notes = Vec::new();
        if !h.expand {
            notes.push("no expansion");
        }
        if h.chomp {
            notes.push("tabs stripped");
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        out.push_str(&format!("{indent}  <<{}{notes}\n", h.name));
        for body_line in h.content.lines() {
            out.push_str(&format!("{indent}  | {body_line}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn json_has_the_documented_shape() {
        let ast = parse("# syntax=x\nFROM a\nENV A=1 B=2\nONBUILD RUN <<E\nhi\nE\n").unwrap();
        let v = to_json(&ast);
        assert_eq!(v["directives"], json!({"syntax": "x"}));
        assert_eq!(
            v["instructions"][0],
            json!({"keyword": "from", "flags": [], "args": ["a"], "json": false,
                   "start_line": 2, "end_line": 2, "heredocs": []})
        );
        assert_eq!(
            v["instructions"][1]["args"],
            json!([["A", "1", "="], ["B", "2", "="]])
        );
        let onbuild = &v["instructions"][2];
        assert_eq!(onbuild["end_line"], 6);
        assert_eq!(onbuild["trigger"]["keyword"], "run");
        assert_eq!(
            onbuild["trigger"]["heredocs"],
            json!([{"name": "E", "content": "hi\n", "expand": true, "chomp": false}])
        );
        assert!(v["instructions"][0].get("trigger").is_none());
    }

    #[test]
    fn text_lists_one_line_per_instruction() {
        let ast = parse("FROM a AS b\nRUN --network=none \\\n  make\nCOPY <<-'X' /f\n\tbody\nX\n")
            .unwrap();
        assert_eq!(
            to_text(&ast),
            "1 FROM \"a\" \"AS\" \"b\"\n2-3 RUN --network=none \"make\"\n4-6 COPY \"<<-'X'\" \"/f\"\n  <<X (no expansion, tabs stripped)\n  | \tbody\n"
        );
    }
}
