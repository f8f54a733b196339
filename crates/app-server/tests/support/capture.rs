//! A `tracing` layer that records spans (with the fields recorded later)
//! and events, for assertions.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span: its name and every field it was given.
#[derive(Clone, Debug, Default)]
pub struct SpanRec {
    pub name: String,
    pub fields: BTreeMap<String, String>,
}

impl SpanRec {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// One event: level, message and fields.
#[derive(Clone, Debug)]
pub struct EventRec {
    pub level: Level,
    pub fields: BTreeMap<String, String>,
}

impl EventRec {
    pub fn message(&self) -> &str {
        self.fields.get("message").map(String::as_str).unwrap_or("")
    }
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Store {
    spans: Vec<SpanRec>,
    by_id: BTreeMap<u64, usize>,
    events: Vec<EventRec>,
}

/// The capture: clone it, install it, read it.
#[derive(Clone, Default)]
pub struct Capture {
    store: Arc<Mutex<Store>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let mut rec = SpanRec {
            name: attrs.metadata().name().to_owned(),
            ..SpanRec::default()
        };
        attrs.record(&mut Fields(&mut rec.fields));
        let mut store = self.store.lock();
        let idx = store.spans.len();
        store.spans.push(rec);
        store.by_id.insert(id.into_u64(), idx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut store = self.store.lock();
        if let Some(&idx) = store.by_id.get(&id.into_u64()) {
            values.record(&mut Fields(&mut store.spans[idx].fields));
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        // Ids are reused after close: forget the mapping, keep the record.
        self.store.lock().by_id.remove(&id.into_u64());
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.store.lock().events.push(EventRec {
            level: *event.metadata().level(),
            fields,
        });
    }
}

impl Capture {
    /// Installs the capture as this thread's default subscriber (a
    /// current-thread runtime runs every task of the test on it).
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::set_default(subscriber)
    }

    pub fn spans(&self, name: &str) -> Vec<SpanRec> {
        self.store
            .lock()
            .spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    pub fn events(&self) -> Vec<EventRec> {
        self.store.lock().events.clone()
    }

    pub fn events_at(&self, level: Level) -> Vec<EventRec> {
        self.events().into_iter().filter(|e| e.level == level).collect()
    }

    /// Everything recorded, as one string (to check that a secret is absent).
    pub fn everything(&self) -> String {
        let store = self.store.lock();
        format!("{:?} {:?}", store.spans, store.events)
    }
}
