//! The oracle's scenario format (`xtask/oracle/README.md`), parsed and
//! checked by the same rules as `otp_supervisor_oracle.escript`, so that a
//! scenario is accepted here exactly when the oracle accepts it.

use std::collections::HashMap;

use atlas_supervisor::{AutoShutdown, RestartType, Strategy};
use serde_json::{Map, Value};

/// A worker with `on_shutdown: stop` and an integer timeout below this is
/// refused by the oracle (it could be killed while stopping).
const MIN_STOP_TIMEOUT_MS: u64 = 100;

/// One scenario: a supervision tree and the events applied to it.
#[derive(Debug)]
pub struct Scenario {
    pub root: SupNode,
    pub events: Vec<Event>,
    /// Every id of the tree: its kind and the ids of its ancestor
    /// supervisors below the root.
    pub index: HashMap<String, Place>,
}

/// Where an id sits in the spec tree.
#[derive(Debug)]
pub struct Place {
    pub is_supervisor: bool,
    pub path: Vec<String>,
}

/// A supervisor of the spec tree (the root's id is empty).
#[derive(Debug)]
pub struct SupNode {
    pub id: String,
    pub restart: RestartType,
    /// Always `false` for the root (nobody's child).
    pub significant: bool,
    pub strategy: Strategy,
    pub auto_shutdown: AutoShutdown,
    pub max_restarts: u64,
    pub max_seconds: u64,
    pub children: Vec<Node>,
}

/// A child of a supervisor.
#[derive(Debug)]
pub enum Node {
    Worker(WorkerNode),
    Supervisor(SupNode),
}

impl Node {
    pub fn id(&self) -> &str {
        match self {
            Node::Worker(w) => &w.id,
            Node::Supervisor(s) => &s.id,
        }
    }
}

/// A worker of the spec tree.
#[derive(Debug)]
pub struct WorkerNode {
    pub id: String,
    pub restart: RestartType,
    pub significant: bool,
    pub shutdown: ShutdownSpec,
    /// `on_shutdown: ignore`: the worker does not stop when asked.
    pub ignores_shutdown: bool,
    /// Which start attempts of this id fail (counted from 1 over the run).
    pub fail_starts: Vec<u64>,
    /// Which start attempts answer ignore (the same numbering).
    pub ignore_starts: Vec<u64>,
}

/// The `shutdown` field of a worker.
#[derive(Clone, Copy, Debug)]
pub enum ShutdownSpec {
    BrutalKill,
    Millis(u64),
    Infinity,
}

/// The reason of an `exit` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Normal,
    Shutdown,
    Crash,
}

/// A supervisor control call (`supervisor:F(Parent, Id)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Terminate,
    Restart,
    Delete,
}

impl Control {
    pub fn name(self) -> &'static str {
        match self {
            Control::Terminate => "terminate_child",
            Control::Restart => "restart_child",
            Control::Delete => "delete_child",
        }
    }
}

/// One event of the scenario.
#[derive(Debug)]
pub enum Event {
    Exit(String, Reason),
    Kill(String),
    Control(Control, String),
    /// Exits pending together at their parent, whose path (ids below the
    /// root) is given; every step is an `Exit` or a `Kill` of a worker.
    Burst(Vec<String>, Vec<Event>),
}

impl Event {
    /// The ids it prints `skip` for when nothing happens.
    pub fn ids(&self) -> Vec<&str> {
        match self {
            Event::Exit(id, _) | Event::Kill(id) | Event::Control(_, id) => vec![id],
            Event::Burst(_, steps) => steps.iter().flat_map(Event::ids).collect(),
        }
    }
}

type Res<T> = Result<T, String>;

/// Parses and checks a scenario; the error says what is wrong.
pub fn parse(text: &str) -> Res<Scenario> {
    let json: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = json.as_object().ok_or("the scenario must be a JSON object")?;
    if obj.contains_key("significant") {
        return Err("the root supervisor cannot be significant (it is nobody's child)".into());
    }
    let root = parse_sup(obj, String::new(), RestartType::Permanent, false)?;
    let mut index = HashMap::new();
    index_children(&root.children, &mut Vec::new(), &mut index)?;
    let events = list(obj, "events", "the scenario")?
        .iter()
        .map(|e| parse_event(e, &index))
        .collect::<Res<Vec<_>>>()?;
    Ok(Scenario { root, events, index })
}

fn list<'a>(obj: &'a Map<String, Value>, key: &str, whose: &str) -> Res<&'a Vec<Value>> {
    obj.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{whose}: `{key}` must be a list"))
}

/// An integer literal (the oracle refuses `1.0` and `1e3`).
fn int(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

fn parse_sup(obj: &Map<String, Value>, id: String, restart: RestartType, significant: bool) -> Res<SupNode> {
    let whose = if id.is_empty() {
        "the root supervisor".to_string()
    } else {
        format!("supervisor `{id}`")
    };
    let strategy = match obj.get("strategy").and_then(Value::as_str) {
        Some("one_for_one") => Strategy::OneForOne,
        Some("one_for_all") => Strategy::OneForAll,
        Some("rest_for_one") => Strategy::RestForOne,
        _ => {
            return Err(format!(
                "{whose}: `strategy` must be one_for_one, one_for_all or rest_for_one"
            ))
        }
    };
    let max_restarts =
        int(obj.get("max_restarts")).ok_or_else(|| format!("{whose}: `max_restarts` must be an integer >= 0"))?;
    // OTP refuses a period of 0.
    let max_seconds = int(obj.get("max_seconds"))
        .filter(|&s| s > 0)
        .ok_or_else(|| format!("{whose}: `max_seconds` must be an integer >= 1"))?;
    let auto_shutdown = match obj.get("auto_shutdown").map(Value::as_str) {
        None | Some(Some("never")) => AutoShutdown::Never,
        Some(Some("any_significant")) => AutoShutdown::AnySignificant,
        Some(Some("all_significant")) => AutoShutdown::AllSignificant,
        _ => {
            return Err(format!(
                "{whose}: `auto_shutdown` must be never, any_significant or all_significant"
            ))
        }
    };
    let children = list(obj, "children", &whose)?
        .iter()
        .map(parse_child)
        .collect::<Res<Vec<_>>>()?;
    Ok(SupNode {
        id,
        restart,
        significant,
        strategy,
        auto_shutdown,
        max_restarts,
        max_seconds,
        children,
    })
}

fn parse_child(v: &Value) -> Res<Node> {
    let obj = v.as_object().ok_or_else(|| format!("a child must be an object: {v}"))?;
    let (Some(id), Some(restart)) = (obj.get("id").and_then(Value::as_str), obj.get("restart")) else {
        return Err(format!("a child needs a string `id` and a `restart`: {v}"));
    };
    check_id(id)?;
    let restart = match restart.as_str() {
        Some("permanent") => RestartType::Permanent,
        Some("transient") => RestartType::Transient,
        Some("temporary") => RestartType::Temporary,
        _ => {
            return Err(format!(
                "child `{id}`: `restart` must be permanent, transient or temporary"
            ))
        }
    };
    // Any boolean is passed on: the engine refuses what OTP refuses.
    let significant = match obj.get("significant") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(format!("child `{id}`: `significant` must be true or false")),
    };
    match obj.get("type").map(Value::as_str).unwrap_or(Some("worker")) {
        Some("worker") => parse_worker(obj, id, restart, significant).map(Node::Worker),
        Some("supervisor") => {
            // A nested supervisor's shutdown is always infinity (OTP's default).
            for key in ["shutdown", "on_shutdown", "fail_starts", "ignore_starts"] {
                if obj.contains_key(key) {
                    return Err(format!("supervisor `{id}`: `{key}` is for workers only"));
                }
            }
            parse_sup(obj, id.to_string(), restart, significant).map(Node::Supervisor)
        }
        _ => Err(format!("child `{id}`: `type` must be worker or supervisor")),
    }
}

fn parse_worker(obj: &Map<String, Value>, id: &str, restart: RestartType, significant: bool) -> Res<WorkerNode> {
    let shutdown = match obj.get("shutdown") {
        None => ShutdownSpec::Millis(5000),
        Some(Value::String(s)) if s == "brutal_kill" => ShutdownSpec::BrutalKill,
        Some(Value::String(s)) if s == "infinity" => ShutdownSpec::Infinity,
        Some(v) => ShutdownSpec::Millis(
            v.as_u64()
                .ok_or_else(|| format!("worker `{id}`: `shutdown` must be brutal_kill, infinity or an integer >= 0"))?,
        ),
    };
    let ignores_shutdown = match obj.get("on_shutdown").map(Value::as_str) {
        None | Some(Some("stop")) => false,
        Some(Some("ignore")) => true,
        _ => return Err(format!("worker `{id}`: `on_shutdown` must be stop or ignore")),
    };
    let fail_starts = start_numbers(obj, "fail_starts", id)?;
    let ignore_starts = start_numbers(obj, "ignore_starts", id)?;
    if let Some(k) = ignore_starts.iter().find(|k| fail_starts.contains(k)) {
        return Err(format!(
            "worker `{id}`: start {k} is in both fail_starts and ignore_starts"
        ));
    }
    match (ignores_shutdown, shutdown) {
        (true, ShutdownSpec::Infinity) => {
            return Err(format!(
                "worker `{id}`: on_shutdown ignore with shutdown infinity would wait for ever"
            ))
        }
        (false, ShutdownSpec::Millis(ms)) if ms < MIN_STOP_TIMEOUT_MS => {
            return Err(format!(
                "worker `{id}`: on_shutdown stop needs a shutdown timeout >= {MIN_STOP_TIMEOUT_MS} ms (got {ms})"
            ))
        }
        _ => {}
    }
    Ok(WorkerNode {
        id: id.to_string(),
        restart,
        significant,
        shutdown,
        ignores_shutdown,
        fail_starts,
        ignore_starts,
    })
}

/// `fail_starts` / `ignore_starts`: start attempt numbers, each >= 1.
fn start_numbers(obj: &Map<String, Value>, key: &str, id: &str) -> Res<Vec<u64>> {
    match obj.get(key) {
        None => Ok(Vec::new()),
        Some(v) => v
            .as_array()
            .and_then(|l| l.iter().map(|k| k.as_u64().filter(|&k| k >= 1)).collect())
            .ok_or_else(|| format!("worker `{id}`: `{key}` must be a list of integers >= 1")),
    }
}

/// Ids are printed verbatim in a space and comma separated trace.
fn check_id(id: &str) -> Res<()> {
    if id.is_empty() {
        return Err("an id must not be empty".into());
    }
    if id.bytes().any(|b| b <= b' ' || b == b',') {
        return Err(format!("id `{id}` contains whitespace or a comma"));
    }
    Ok(())
}

fn index_children(children: &[Node], path: &mut Vec<String>, index: &mut HashMap<String, Place>) -> Res<()> {
    for child in children {
        let id = child.id().to_string();
        if index.contains_key(&id) {
            return Err(format!("duplicate id `{id}` (ids are unique across the whole tree)"));
        }
        let place = Place {
            is_supervisor: matches!(child, Node::Supervisor(_)),
            path: path.clone(),
        };
        index.insert(id.clone(), place);
        if let Node::Supervisor(s) = child {
            path.push(id);
            index_children(&s.children, path, index)?;
            path.pop();
        }
    }
    Ok(())
}

fn parse_event(v: &Value, index: &HashMap<String, Place>) -> Res<Event> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("an event must be an object: {v}"))?;
    let ops: Vec<&str> = [
        "exit",
        "kill",
        "terminate_child",
        "restart_child",
        "delete_child",
        "burst",
    ]
    .into_iter()
    .filter(|k| obj.contains_key(*k))
    .collect();
    let [op] = ops[..] else {
        return Err(format!(
            "an event needs exactly one of exit, kill, terminate_child, restart_child, delete_child, burst: {v}"
        ));
    };
    if op == "burst" {
        return parse_burst(&obj[op], index);
    }
    let id = obj
        .get(op)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("event `{op}`: the id must be a string: {v}"))?
        .to_string();
    Ok(match op {
        "exit" => {
            let reason = match obj.get("reason").and_then(Value::as_str) {
                Some("normal") => Reason::Normal,
                Some("shutdown") => Reason::Shutdown,
                Some("crash") => Reason::Crash,
                _ => return Err(format!("exit `{id}`: `reason` must be normal, shutdown or crash")),
            };
            Event::Exit(id, reason)
        }
        "kill" => {
            // Its children would exit concurrently: no deterministic trace.
            if index.get(&id).is_some_and(|p| p.is_supervisor) {
                return Err(format!("kill `{id}`: killing a supervisor is not supported"));
            }
            Event::Kill(id)
        }
        "terminate_child" => Event::Control(Control::Terminate, id),
        "restart_child" => Event::Control(Control::Restart, id),
        _ => Event::Control(Control::Delete, id),
    })
}

/// `{"burst": [STEP, ...]}`: two or more exits or kills of distinct workers
/// that have the same direct parent.
fn parse_burst(v: &Value, index: &HashMap<String, Place>) -> Res<Event> {
    let list = v
        .as_array()
        .filter(|l| l.len() >= 2)
        .ok_or_else(|| format!("a burst needs a list of at least two steps: {v}"))?;
    let mut steps = Vec::new();
    let mut path: Option<&Vec<String>> = None;
    for step in list {
        if step.as_object().is_some_and(|o| o.contains_key("burst")) {
            return Err(format!("a burst inside a burst: {step}"));
        }
        let event = parse_event(step, index)?;
        let id = match &event {
            Event::Exit(id, _) | Event::Kill(id) => id.clone(),
            _ => return Err(format!("a burst step must be an exit or a kill: {step}")),
        };
        let place = index
            .get(&id)
            .ok_or_else(|| format!("burst step `{id}`: not in the tree (it has no parent to hold)"))?;
        if place.is_supervisor {
            return Err(format!("burst step `{id}`: only workers may be in a burst"));
        }
        if steps.iter().any(|s: &Event| s.ids() == [id.as_str()]) {
            return Err(format!("burst: `{id}` is repeated"));
        }
        match path {
            Some(p) if *p != place.path => return Err(format!("burst: the steps have different parents: {v}")),
            _ => path = Some(&place.path),
        }
        steps.push(event);
    }
    Ok(Event::Burst(path.cloned().unwrap_or_default(), steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT: &str = r#"{"strategy":"one_for_one","max_restarts":1,"max_seconds":5,
        "children":[{"id":"a","restart":"permanent"}],"events":[{"exit":"a","reason":"crash"}]}"#;

    #[test]
    fn accepts_a_flat_scenario() {
        let s = parse(FLAT).expect("valid");
        assert_eq!(s.events.len(), 1);
        assert!(s.index.contains_key("a"));
    }

    #[test]
    fn rejects_what_the_oracle_rejects() {
        let bad = [
            FLAT.replace("\"max_seconds\":5", "\"max_seconds\":0"),
            FLAT.replace("\"max_restarts\":1", "\"max_restarts\":1.0"),
            FLAT.replace(
                "\"restart\":\"permanent\"}",
                "\"restart\":\"permanent\",\"shutdown\":50}",
            ),
            FLAT.replace(
                "\"restart\":\"permanent\"}",
                "\"restart\":\"permanent\",\"shutdown\":\"infinity\",\"on_shutdown\":\"ignore\"}",
            ),
            FLAT.replace("\"id\":\"a\"", "\"id\":\"a b\""),
            FLAT.replace(
                "{\"exit\":\"a\",\"reason\":\"crash\"}",
                "{\"exit\":\"a\",\"kill\":\"a\"}",
            ),
            FLAT.replace(
                "\"children\":[",
                "\"children\":[{\"id\":\"a\",\"restart\":\"temporary\"},",
            ),
            FLAT.replace("\"max_seconds\":5", "\"max_seconds\":5,\"significant\":false"),
            FLAT.replace("\"max_seconds\":5", "\"max_seconds\":5,\"auto_shutdown\":\"always\""),
            FLAT.replace(
                "\"restart\":\"permanent\"}",
                "\"restart\":\"permanent\",\"significant\":1}",
            ),
            FLAT.replace(
                "\"restart\":\"permanent\"}",
                "\"restart\":\"permanent\",\"fail_starts\":[2],\"ignore_starts\":[2]}",
            ),
            FLAT.replace(
                "{\"exit\":\"a\",\"reason\":\"crash\"}",
                "{\"burst\":[{\"kill\":\"a\"}]}",
            ),
            FLAT.replace(
                "{\"exit\":\"a\",\"reason\":\"crash\"}",
                "{\"burst\":[{\"kill\":\"a\"},{\"exit\":\"a\",\"reason\":\"crash\"}]}",
            ),
            FLAT.replace(
                "{\"exit\":\"a\",\"reason\":\"crash\"}",
                "{\"burst\":[{\"kill\":\"a\"},{\"kill\":\"zz\"}]}",
            ),
            FLAT.replace(
                "{\"exit\":\"a\",\"reason\":\"crash\"}",
                "{\"burst\":[{\"kill\":\"a\"},{\"terminate_child\":\"a\"}]}",
            ),
        ];
        for text in bad {
            assert!(parse(&text).is_err(), "accepted: {text}");
        }
    }
}
