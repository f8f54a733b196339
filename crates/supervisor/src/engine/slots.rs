//! Where a supervisor keeps its children: a slab, so that a slot keeps its
//! position for its whole life and a child's exit message can name it, and
//! for the ordered strategies the start order over it.

use tokio::task::AbortHandle;

use crate::{ChildInfo, ChildRef, ChildSpec, ChildState, ShutdownSignal, SupervisorRef};

/// A running incarnation.
pub(super) struct Running {
    /// Names this incarnation in its exit message (a slot's next
    /// incarnation has another key).
    pub(super) key: u64,
    pub(super) abort: AbortHandle,
    pub(super) signal: ShutdownSignal,
    pub(super) supervisor: Option<SupervisorRef>,
}

pub(super) enum SlotState {
    /// Running, or dead with its exit still in the mailbox (as OTP's dead
    /// pid whose `'EXIT'` is pending).
    Running(Running),
    /// Kept, not running (OTP's pid `undefined`).
    Stopped,
    /// Its restart failed; a retry is queued (OTP's `{restarting, _}`).
    Restarting,
}

pub(super) struct Slot {
    pub(super) spec: ChildSpec,
    pub(super) state: SlotState,
}

impl Slot {
    pub(super) fn new(spec: ChildSpec) -> Self {
        Self {
            spec,
            state: SlotState::Stopped,
        }
    }

    pub(super) fn running(&self) -> Option<&Running> {
        match &self.state {
            SlotState::Running(r) => Some(r),
            _ => None,
        }
    }

    /// Whether it holds a pid for OTP (running, dead with its exit pending,
    /// or restarting): what `all_significant` counts.
    pub(super) fn has_pid(&self) -> bool {
        !matches!(self.state, SlotState::Stopped)
    }

    pub(super) fn child_ref(&self, pos: u32) -> Option<ChildRef> {
        self.running().map(|r| ChildRef {
            id: self.spec.id.clone(),
            abort: r.abort.clone(),
            supervisor: r.supervisor.clone(),
            pos,
        })
    }

    pub(super) fn info(&self, pos: u32) -> ChildInfo {
        let state = match &self.state {
            SlotState::Running(_) => self.child_ref(pos).map_or(ChildState::Stopped, ChildState::Running),
            SlotState::Stopped => ChildState::Stopped,
            SlotState::Restarting => ChildState::Restarting,
        };
        ChildInfo {
            id: self.spec.id.clone(),
            state,
            kind: self.spec.kind,
            restart: self.spec.restart,
        }
    }
}

/// The slab of slots, and the start order when it matters.
pub(super) struct Slots {
    entries: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Positions in start order; `None` for a dynamic supervisor, whose
    /// children have no order (OTP's `simple_one_for_one` keeps a map).
    order: Option<Vec<u32>>,
    len: usize,
}

impl Slots {
    pub(super) fn new(ordered: bool) -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            order: ordered.then(Vec::new),
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Adds a slot (at the end of the start order) and returns its position.
    pub(super) fn insert(&mut self, slot: Slot) -> u32 {
        let pos = match self.free.pop() {
            Some(pos) => {
                self.entries[pos as usize] = Some(slot);
                pos
            }
            None => {
                self.entries.push(Some(slot));
                u32::try_from(self.entries.len() - 1).unwrap_or(u32::MAX)
            }
        };
        if let Some(order) = &mut self.order {
            order.push(pos);
        }
        self.len += 1;
        pos
    }

    pub(super) fn remove(&mut self, pos: u32) -> Option<Slot> {
        let slot = self.entries.get_mut(pos as usize)?.take()?;
        if let Some(order) = &mut self.order {
            order.retain(|&p| p != pos);
        }
        self.free.push(pos);
        self.len -= 1;
        Some(slot)
    }

    pub(super) fn get(&self, pos: u32) -> Option<&Slot> {
        self.entries.get(pos as usize)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, pos: u32) -> Option<&mut Slot> {
        self.entries.get_mut(pos as usize)?.as_mut()
    }

    /// Every position: in start order, or slab order for a dynamic
    /// supervisor.
    pub(super) fn positions(&self) -> Vec<u32> {
        match &self.order {
            Some(order) => order.clone(),
            None => (0..self.entries.len())
                .filter(|&i| self.entries[i].is_some())
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect(),
        }
    }

    /// The positions from the `from`-th in start order on.
    pub(super) fn positions_from(&self, from: usize) -> Vec<u32> {
        let mut all = self.positions();
        all.drain(..from.min(all.len()));
        all
    }

    /// Where `pos` stands in the start order.
    pub(super) fn rank(&self, pos: u32) -> usize {
        self.order
            .as_ref()
            .and_then(|o| o.iter().position(|&p| p == pos))
            .unwrap_or(0)
    }

    /// The position of the child with this id (static supervisors, whose
    /// ids are unique).
    pub(super) fn find(&self, id: &str) -> Option<u32> {
        self.iter().find(|(_, s)| *s.spec.id == *id).map(|(pos, _)| pos)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &Slot)> + '_ {
        self.positions().into_iter().filter_map(|p| self.get(p).map(|s| (p, s)))
    }

    /// Aborts every running task (the supervisor is going away).
    pub(super) fn abort_all(&self) {
        for slot in self.entries.iter().flatten() {
            if let Some(r) = slot.running() {
                r.abort.abort();
            }
        }
    }
}
