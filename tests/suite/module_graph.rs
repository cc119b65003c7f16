//! The crate's module graph has no cycle, and the layers point one way:
//! `ipld`, `store`, `actors` and `chain` never reach up into `migration`,
//! `synth` or the CLI. Read from the `crate::…` and `super::…` paths of
//! every source file (comments left out), a file being one module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `lib.rs` and
/// `main.rs` the root.
fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut m: Module = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        m.pop();
    }
    m
}

/// The module graph: each module and the modules it names.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&root, f)).collect();
    let resolve = |path: &[String]| -> Option<Module> {
        (1..=path.len())
            .rev()
            .map(|i| path[..i].to_vec())
            .find(|m| modules.contains(m))
    };
    let mut edges = BTreeMap::new();
    for f in &files {
        let m = module_of(&root, f);
        let text: String = std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut to = BTreeSet::new();
        for (i, _) in text.match_indices("::") {
            // A path starting at `crate` or `super`: take the word before
            // the first `::` and the words after.
            let start = text[..i]
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |s| s + 1);
            let head = &text[start..i];
            if head != "crate" && head != "super" {
                continue;
            }
            if start >= 2 && &text[start - 2..start] == "::" {
                continue; // inside a longer path, counted from its start
            }
            let rest: Vec<String> = text[i + 2..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let mut base: Module = if head == "crate" {
                Vec::new()
            } else {
                m[..m.len().saturating_sub(1)].to_vec()
            };
            let mut segs = rest.as_slice();
            while segs.first().map(String::as_str) == Some("super") {
                base.pop();
                segs = &segs[1..];
            }
            base.extend(segs.iter().cloned());
            if let Some(t) = resolve(&base) {
                let ancestor = t.len() < m.len() && m[..t.len()] == t[..];
                if t != m && !ancestor {
                    to.insert(t);
                }
            }
        }
        edges.insert(m, to);
    }
    edges
}

/// A cycle of the graph, if there is one.
fn cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    // Colours: 0 unvisited, 1 on the stack, 2 done.
    fn visit(
        m: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        colour: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        colour.insert(m.clone(), 1);
        stack.push(m.clone());
        for t in edges.get(m).into_iter().flatten() {
            match colour.get(t).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == t).unwrap();
                    return Some(stack[at..].to_vec());
                }
                0 => {
                    if let Some(c) = visit(t, edges, colour, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(m.clone(), 2);
        None
    }
    let mut colour = BTreeMap::new();
    for m in edges.keys() {
        if colour.get(m).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(m, edges, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_module_graph_has_no_cycle() {
    let edges = graph();
    assert!(edges.len() > 100, "{} modules read", edges.len());
    if let Some(c) = cycle(&edges) {
        let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

#[test]
fn the_lower_layers_never_reach_up() {
    let edges = graph();
    for (m, to) in &edges {
        let Some(layer) = m.first() else { continue };
        if !["ipld", "store", "actors", "chain"].contains(&layer.as_str()) {
            continue;
        }
        for t in to {
            let up = t
                .first()
                .is_some_and(|l| ["migration", "synth", "cli"].contains(&l.as_str()));
            assert!(!up, "{} reaches up into {}", m.join("::"), t.join("::"));
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let m = |s: &str| vec![s.to_string()];
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    edges.insert(m("a"), [m("b")].into());
    edges.insert(m("b"), [m("c")].into());
    edges.insert(m("c"), [m("a")].into());
    assert_eq!(cycle(&edges).map(|c| c.len()), Some(3));
    edges.insert(m("c"), BTreeSet::new());
    assert_eq!(cycle(&edges), None);
}

/// The runner, caches, stores and reports know no upgrade by name: every
/// `"nvNN…"` literal of `src/migration` is inside an upgrade's folder.
#[test]
fn only_the_upgrade_folders_name_an_upgrade() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/migration");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let upgrades = root.join("upgrades");
    let mut named = Vec::new();
    for f in files.iter().filter(|f| !f.starts_with(&upgrades)) {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let names_one = code.match_indices("\"nv").any(|(i, _)| {
                code[i + 3..]
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_digit())
            });
            if names_one {
                named.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        named.is_empty(),
        "upgrades named outside their folders:\n{}",
        named.join("\n")
    );
}
