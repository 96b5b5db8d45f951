//! Fuzzes the world-file contract (DESIGN decision 4) with mutated copies of the shipped worlds
//! (1–4 edits at random JSON paths: deletions, values of other types, extreme numbers, copied
//! subtrees, longer or shorter arrays, renamed or unknown keys, retargeted names; some cases
//! also damage the text): loading never panics; every rejection names a JSON path
//! (`$.bodies[2].shapes[0].shape.radius (line 9, column 3)`, or just `line N, column M` for
//! text that is not JSON) that exists in the file, or whose object does (a missing or defaulted
//! member); only text that is not JSON is called a syntax error; and a world that loads also
//! builds, resets, steps and renders from every camera without panicking.
//!
//! The default run tries 256 cases; `cargo test --release -p kennel-sim --test world_fuzz --
//! --ignored` tries 10,000. Both draw from fixed seeds, so a failure reproduces by rerunning
//! the same command, in CI or here, and an unrelated change never turns CI red by luck; no
//! regression file is written, since each failure found becomes a named test in
//! `world_files.rs`. `PROPTEST_RNG_SEED=<n>` explores other cases, `PROPTEST_CASES=<n>` sets how
//! many.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock};

use common::{WORLDS, scripted_action, world_path};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{RngSeed, TestCaseError};
use serde_json::{Map, Value, json};
use sim::{Env, Renderer, SpecErrorKind, WorldSpec};

/// One step of a path into a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// The shipped worlds, parsed once.
static SHIPPED: LazyLock<Vec<(&'static str, Value)>> = LazyLock::new(|| {
    WORLDS
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(world_path(name)).expect("read a shipped world");
            (
                *name,
                serde_json::from_str(&text).expect("shipped worlds are JSON"),
            )
        })
        .collect()
});

/// Which values a mutation may land on.
#[derive(Clone, Copy, Debug)]
enum Pool {
    /// Every value but the document itself.
    Member,
    Number,
    Array,
    Object,
    String,
}

/// A change to a JSON document; each `Index` picks a target among the values of its pool.
#[derive(Clone, Debug)]
enum Mutation {
    /// Removes a key of an object or an element of an array.
    Delete(Index),
    /// Replaces any value (the document included) by one of another kind.
    Replace(Index, Value),
    /// Sets a number to an extreme.
    Number(Index, Extreme),
    /// Replaces a value by a copy of another part of the document.
    Graft { from: Index, to: Index },
    /// Appends copies of an array's element.
    Duplicate {
        array: Index,
        element: Index,
        copies: usize,
    },
    /// Cuts an array to a shorter length (possibly empty).
    Truncate { array: Index, len: Index },
    /// Renames an object's key.
    Rename(Index, NewKey),
    /// Adds a key the format does not have.
    Insert(Index, String, Value),
    /// Sets a string to another string of the document (a name, a kind), so references
    /// point elsewhere.
    Retarget(Index, Index),
}

/// What a number becomes.
#[derive(Clone, Debug)]
enum Extreme {
    Value(Value),
    Scaled(f64),
}

/// How a renamed key is spelt.
#[derive(Clone, Debug)]
enum NewKey {
    Suffix,
    Upper,
    DropLast,
    /// Another key that occurs somewhere in the document (may collide).
    Other(Index),
    Literal(String),
}

/// A change to the text after the document is written out.
#[derive(Clone, Debug)]
enum TextMutation {
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
}

#[derive(Clone, Debug)]
struct Case {
    world: &'static str,
    mutations: Vec<Mutation>,
    text: Vec<TextMutation>,
    seed: u64,
}

const VARIANTS: [&str; 16] = [
    "sphere",
    "box",
    "cylinder",
    "capsule",
    "plane",
    "planar_force",
    "target_velocity",
    "agent_position",
    "object_pose",
    "position",
    "yaw",
    "scale",
    "colour",
    "static",
    "dynamic",
    "kinematic",
];

fn extreme_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => select(vec![
            json!(0),
            json!(-0.0),
            json!(-1),
            json!(1),
            json!(2),
            json!(0.5),
            json!(1e-7),
            json!(1e-45),
            json!(1e-300),
            json!(1e6),
            json!(-1e6),
            json!(1e30),
            json!(-1e30),
            json!(3.4028235e38),
            json!(1e39),
            json!(-1e39),
            json!(1e308),
            json!(-1e308),
            json!(u32::MAX),
            json!(u64::from(u32::MAX) + 1),
            json!(i64::MIN),
            json!(u64::MAX),
        ]),
        2 => (-10f64..10.0).prop_map(|x| json!(x)),
        1 => (-2000f64..2000.0).prop_map(|x| json!(x)),
        1 => (0u64..2000).prop_map(|x| json!(x)),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        extreme_number(),
        select(vec![
            "", "agent", "ground", "box", "x", "é", "a b", "$.name", "\u{0}"
        ])
        .prop_map(|s| json!(s)),
        select(VARIANTS.to_vec()).prop_map(|s| json!(s)),
        Just(json!([])),
        Just(json!({})),
        proptest::collection::vec(-3.0f64..3.0, 0..5).prop_map(|v| json!(v)),
        select(VARIANTS.to_vec()).prop_map(|s| json!({ "type": s })),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let extreme = prop_oneof![
        3 => extreme_number().prop_map(Extreme::Value),
        1 => select(vec![-1.0, 0.5, 2.0, 10.0, 1e3, 1e6, 1e-6, 0.0]).prop_map(Extreme::Scaled),
    ];
    let new_key = prop_oneof![
        Just(NewKey::Suffix),
        Just(NewKey::Upper),
        Just(NewKey::DropLast),
        any::<Index>().prop_map(NewKey::Other),
        select(vec!["", "a b", "é", "[0]", "\"", "$", "type"])
            .prop_map(|s| NewKey::Literal(s.to_owned())),
    ];
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::Delete),
        2 => (any::<Index>(), any_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        // Most mutations keep the document well typed, to reach validation and what follows.
        8 => (any::<Index>(), extreme).prop_map(|(i, e)| Mutation::Number(i, e)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(from, to)| Mutation::Graft { from, to }),
        2 => (any::<Index>(), any::<Index>(), 1usize..4).prop_map(|(array, element, copies)| {
            Mutation::Duplicate { array, element, copies }
        }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(array, len)| Mutation::Truncate {
            array,
            len
        }),
        1 => (any::<Index>(), new_key).prop_map(|(i, k)| Mutation::Rename(i, k)),
        1 => (
            any::<Index>(),
            select(vec!["extra", "colour", "name", "type", "radius", "Type"]),
            any_value()
        )
            .prop_map(|(i, k, v)| Mutation::Insert(i, k.to_owned(), v)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(to, from)| Mutation::Retarget(to, from)),
    ]
}

fn text_mutation() -> impl Strategy<Value = TextMutation> {
    let byte = select(b"{}[]\",:0-. \\en\x80\xff".to_vec());
    prop_oneof![
        any::<Index>().prop_map(TextMutation::Truncate),
        (any::<Index>(), 1u8..=255).prop_map(|(i, m)| TextMutation::Flip(i, m)),
        (any::<Index>(), byte).prop_map(|(i, b)| TextMutation::Insert(i, b)),
        any::<Index>().prop_map(TextMutation::Delete),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let world = select(WORLDS.to_vec());
    let seed = 0u64..1000;
    // Numbers only: the file stays well typed, so these reach validation's ranges and, when
    // accepted, the physics and the renderer.
    let number = (any::<Index>(), extreme_number())
        .prop_map(|(i, v)| Mutation::Number(i, Extreme::Value(v)));
    prop_oneof![
        3 => (world.clone(), proptest::collection::vec(mutation(), 1..=4), seed.clone())
            .prop_map(|(world, mutations, seed)| Case { world, mutations, text: vec![], seed }),
        2 => (world.clone(), proptest::collection::vec(number, 1..=4), seed.clone())
            .prop_map(|(world, mutations, seed)| Case { world, mutations, text: vec![], seed }),
        1 => (
            world,
            proptest::collection::vec(mutation(), 0..=2),
            proptest::collection::vec(text_mutation(), 1..=2),
            seed
        )
            .prop_map(|(world, mutations, text, seed)| Case { world, mutations, text, seed }),
    ]
}

/// Every path in `value`, the document's own (empty) path first.
fn paths(value: &Value) -> Vec<Vec<Seg>> {
    fn walk(value: &Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    at.push(Seg::Key(key.clone()));
                    walk(child, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    at.push(Seg::Index(i));
                    walk(child, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn get<'a>(value: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(i),
    })
}

fn get_mut<'a>(value: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k),
        Seg::Index(i) => v.get_mut(i),
    })
}

/// The paths of `pool` in `doc`, picked by `index`; `None` when the pool is empty.
fn pick(doc: &Value, pool: Pool, index: &Index) -> Option<Vec<Seg>> {
    let candidates: Vec<_> = paths(doc)
        .into_iter()
        .filter(|p| {
            let v = get(doc, p);
            match pool {
                Pool::Member => !p.is_empty(),
                Pool::Number => v.is_some_and(Value::is_number),
                Pool::Array => v.is_some_and(Value::is_array),
                Pool::Object => v.is_some_and(Value::is_object),
                Pool::String => v.is_some_and(Value::is_string),
            }
        })
        .collect();
    (!candidates.is_empty()).then(|| candidates[index.index(candidates.len())].clone())
}

fn all_keys(doc: &Value) -> Vec<String> {
    let mut keys: Vec<String> = paths(doc)
        .into_iter()
        .filter_map(|p| match p.last() {
            Some(Seg::Key(k)) => Some(k.clone()),
            _ => None,
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn apply(doc: &mut Value, mutation: &Mutation) {
    match mutation {
        Mutation::Delete(i) => {
            let Some(mut path) = pick(doc, Pool::Member, i) else {
                return;
            };
            let last = path.pop().expect("members have a parent");
            match (get_mut(doc, &path), last) {
                (Some(Value::Object(map)), Seg::Key(k)) => {
                    map.remove(&k);
                }
                (Some(Value::Array(items)), Seg::Index(j)) => {
                    items.remove(j);
                }
                _ => unreachable!("a path's parent holds it"),
            }
        }
        Mutation::Replace(i, value) => {
            let all = paths(doc);
            let path = all[i.index(all.len())].clone();
            *get_mut(doc, &path).expect("path exists") = value.clone();
        }
        Mutation::Number(i, extreme) => {
            let Some(path) = pick(doc, Pool::Number, i) else {
                return;
            };
            let target = get_mut(doc, &path).expect("path exists");
            *target = match extreme {
                Extreme::Value(v) => v.clone(),
                Extreme::Scaled(factor) => json!(target.as_f64().unwrap_or(0.0) * factor),
            };
        }
        Mutation::Graft { from, to } => {
            let all = paths(doc);
            let source = get(doc, &all[from.index(all.len())])
                .expect("path exists")
                .clone();
            *get_mut(doc, &all[to.index(all.len())]).expect("path exists") = source;
        }
        Mutation::Duplicate {
            array,
            element,
            copies,
        } => {
            let Some(path) = pick(doc, Pool::Array, array) else {
                return;
            };
            let Some(Value::Array(items)) = get_mut(doc, &path) else {
                unreachable!("picked an array");
            };
            if !items.is_empty() {
                let copy = items[element.index(items.len())].clone();
                items.extend(std::iter::repeat_n(copy, *copies));
            }
        }
        Mutation::Truncate { array, len } => {
            let Some(path) = pick(doc, Pool::Array, array) else {
                return;
            };
            let Some(Value::Array(items)) = get_mut(doc, &path) else {
                unreachable!("picked an array");
            };
            let keep = len.index(items.len().max(1));
            items.truncate(keep);
        }
        Mutation::Rename(i, new_key) => {
            let keys = all_keys(doc);
            let Some(mut path) = pick(doc, Pool::Member, i) else {
                return;
            };
            let Some(Seg::Key(old)) = path.pop() else {
                return;
            };
            let new = match new_key {
                NewKey::Suffix => format!("{old}_"),
                NewKey::Upper => old.to_uppercase(),
                NewKey::DropLast => {
                    let mut s = old.clone();
                    s.pop();
                    s
                }
                NewKey::Other(k) => keys[k.index(keys.len())].clone(),
                NewKey::Literal(s) => s.clone(),
            };
            let Some(Value::Object(map)) = get_mut(doc, &path) else {
                unreachable!("a key's parent is an object");
            };
            // Rebuild the map so the renamed key keeps its place when maps keep order.
            let renamed: Map<String, Value> = std::mem::take(map)
                .into_iter()
                .map(|(k, v)| if k == old { (new.clone(), v) } else { (k, v) })
                .collect();
            *map = renamed;
        }
        Mutation::Insert(i, key, value) => {
            let Some(path) = pick(doc, Pool::Object, i) else {
                return;
            };
            let Some(Value::Object(map)) = get_mut(doc, &path) else {
                unreachable!("picked an object");
            };
            map.insert(key.clone(), value.clone());
        }
        Mutation::Retarget(to, from) => {
            let (Some(to), Some(from)) =
                (pick(doc, Pool::String, to), pick(doc, Pool::String, from))
            else {
                return;
            };
            let source = get(doc, &from).expect("path exists").clone();
            *get_mut(doc, &to).expect("path exists") = source;
        }
    }
}

fn apply_text(bytes: &mut Vec<u8>, mutation: &TextMutation) {
    let len = bytes.len();
    match mutation {
        TextMutation::Truncate(i) => bytes.truncate(i.index(len.max(1))),
        TextMutation::Flip(i, mask) if len > 0 => bytes[i.index(len)] ^= mask,
        TextMutation::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
        TextMutation::Delete(i) if len > 0 => {
            bytes.remove(i.index(len));
        }
        _ => {}
    }
}

/// The mutated world's text.
fn mutated_text(case: &Case) -> String {
    let (_, base) = SHIPPED
        .iter()
        .find(|(name, _)| *name == case.world)
        .expect("a shipped world");
    let mut doc = base.clone();
    for m in &case.mutations {
        apply(&mut doc, m);
    }
    let mut bytes = serde_json::to_string_pretty(&doc)
        .expect("a Value serialises")
        .into_bytes();
    for m in &case.text {
        apply_text(&mut bytes, m);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Parses a location `$` + `.key` / `["key"]` / `[n]` segments, optionally followed by
/// ` (line N, column M)`; `None` when it is not such a path.
fn parse_json_path(location: &str) -> Option<Vec<Seg>> {
    let path = match location.rsplit_once(" (line ") {
        Some((path, rest)) => {
            parse_line_column(&format!("line {}", rest.strip_suffix(')')?))?;
            path
        }
        None => location,
    };
    let mut rest = path.strip_prefix('$')?;
    let mut segs = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            segs.push(Seg::Key(after[..end].to_owned()));
            rest = &after[end..];
        } else if rest.starts_with("[\"") {
            // A quoted key, JSON-escaped: read one JSON string.
            let mut stream = serde_json::Deserializer::from_str(&rest[1..]).into_iter::<String>();
            let key = stream.next()?.ok()?;
            let used = stream.byte_offset();
            rest = rest[1 + used..].strip_prefix(']')?;
            segs.push(Seg::Key(key));
        } else if let Some(after) = rest.strip_prefix('[') {
            let (digits, tail) = after.split_once(']')?;
            segs.push(Seg::Index(digits.parse().ok()?));
            rest = tail;
        } else {
            return None;
        }
    }
    Some(segs)
}

/// Parses `line N, column M`.
fn parse_line_column(location: &str) -> Option<(u64, u64)> {
    let rest = location.strip_prefix("line ")?;
    let (line, column) = rest.split_once(", column ")?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// Env steps taken in a world that loaded.
const STEPS: u64 = 20;

/// Builds an env for a world that loaded, resets, steps and renders it from every camera.
fn exercise(spec: WorldSpec, seed: u64) {
    let spec = Arc::new(spec);
    let mut env = Env::new(Arc::clone(&spec));
    // A world may be valid yet leave no room to draw a start (a hazard over every region);
    // that is an error, not a panic.
    if env.reset(seed).is_err() {
        return;
    }
    for t in 0..STEPS {
        env.step(&scripted_action(t))
            .expect("a finite action steps");
    }
    env.render_goal().expect("reset before");
    let world = env.world().expect("reset before");
    for camera in spec.effective_cameras().iter().skip(1) {
        Renderer::for_camera(&spec, camera).render(world);
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".to_owned())
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let text = mutated_text(case);
    let loaded = catch_unwind(|| WorldSpec::from_json_str(&text, "fuzz.json")).map_err(|p| {
        TestCaseError::fail(format!("loading panicked: {}\n{text}", panic_text(&*p)))
    })?;
    match loaded {
        Err(err) => {
            prop_assert_eq!(&err.origin, "fuzz.json");
            prop_assert!(!err.message.is_empty(), "an empty message: {}", err);
            let path = parse_json_path(&err.location);
            // Only text that is not JSON may give just a position.
            let position_only =
                err.kind == SpecErrorKind::Syntax && parse_line_column(&err.location).is_some();
            prop_assert!(
                path.is_some() || position_only,
                "the error names no JSON path: {}\n{}",
                err,
                text
            );
            if let Ok(document) = serde_json::from_str::<Value>(&text) {
                prop_assert_ne!(err.kind, SpecErrorKind::Syntax, "{} in valid JSON", err);
                // The path names a value of the file, or a member its object lacks (a missing
                // field, or one whose default conflicts with another value).
                let path = path.unwrap_or_default();
                let parent = &path[..path.len().saturating_sub(1)];
                prop_assert!(
                    get(&document, &path).is_some() || get(&document, parent).is_some(),
                    "the path names nothing in the file: {}\n{}",
                    err,
                    text
                );
            }
        }
        Ok(spec) => {
            catch_unwind(AssertUnwindSafe(|| exercise(spec, case.seed))).map_err(|p| {
                TestCaseError::fail(format!(
                    "a world that loaded panicked downstream: {}\n{text}",
                    panic_text(&*p)
                ))
            })?;
        }
    }
    Ok(())
}

/// `cases` from a fixed seed, unless `PROPTEST_CASES` / `PROPTEST_RNG_SEED` say otherwise; no
/// regression file (the fixed seed replays a failure, and each one becomes a named test).
fn config(cases: u32, seed: u64) -> ProptestConfig {
    let from_env = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            from_env.cases
        } else {
            cases
        },
        rng_seed: match from_env.rng_seed {
            RngSeed::Random => RngSeed::Fixed(seed),
            fixed @ RngSeed::Fixed(_) => fixed,
        },
        failure_persistence: None,
        ..from_env
    }
}

proptest! {
    #![proptest_config(config(256, 0x6b65_6e6e_656c))]
    #[test]
    fn mutated_worlds_load_or_name_a_path(case in case()) {
        check(&case)?;
    }
}

proptest! {
    #![proptest_config(config(10_000, 0x776f_726c_6473))]
    #[test]
    #[ignore = "10,000 cases, a few seconds in release; run with --ignored"]
    fn mutated_worlds_load_or_name_a_path_deep(case in case()) {
        check(&case)?;
    }
}

#[test]
fn the_harness_reads_paths_and_leaves_unmutated_worlds_valid() {
    assert_eq!(
        parse_json_path("$.bodies[2][\"a b\"].radius (line 3, column 7)"),
        Some(vec![
            Seg::Key("bodies".into()),
            Seg::Index(2),
            Seg::Key("a b".into()),
            Seg::Key("radius".into())
        ])
    );
    assert_eq!(parse_json_path("line 3, column 7"), None);
    assert_eq!(parse_json_path("$.a b"), None);
    for (name, value) in SHIPPED.iter() {
        let case = Case {
            world: name,
            mutations: vec![],
            text: vec![],
            seed: 0,
        };
        assert!(WorldSpec::from_json_str(&mutated_text(&case), name).is_ok());
        assert!(paths(value).len() > 20);
    }
}

#[test]
fn the_cases_reach_every_stage() {
    // A fuzzer whose cases all fail to parse would pass while testing little: check that the
    // default run's mix loads some worlds (which then step) and hits each kind of rejection.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::new(config(256, 0x6b65_6e6e_656c));
    let (mut loaded, mut kinds) = (0, std::collections::HashSet::new());
    for _ in 0..256 {
        let case = case().new_tree(&mut runner).expect("a case").current();
        match WorldSpec::from_json_str(&mutated_text(&case), "fuzz.json") {
            Ok(_) => loaded += 1,
            Err(err) => {
                kinds.insert(format!("{:?}", err.kind));
            }
        }
    }
    assert!(loaded >= 13, "only {loaded} of 256 cases load");
    for kind in [
        "Syntax",
        "UnknownField",
        "MissingField",
        "WrongType",
        "OutOfRange",
    ] {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }
}
