//! The control calls that start children: `restart_child` and
//! `start_child`; and `count_children`.

use super::slots::{Slot, SlotState};
use super::{check, Core, Kind, Outcome};
use crate::handle::ControlError;
use crate::{ChildCounts, ChildKind, ChildRef, ChildSpec};

impl Core {
    /// OTP's `handle_call({restart_child, Id})`: no retry, no count.
    pub(super) async fn restart_child(&mut self, id: &str) -> Result<ChildRef, ControlError> {
        let pos = self.slots.find(id).ok_or(ControlError::NotFound)?;
        match self.slots.get(pos).map(|s| &s.state) {
            Some(SlotState::Running(_)) => return Err(ControlError::Running),
            Some(SlotState::Restarting) => return Err(ControlError::Restarting),
            _ => {}
        }
        match self.start_slot(pos).await {
            Outcome::Running(r) => Ok(r),
            Outcome::Ignored => Err(ControlError::Ignored),
            Outcome::Failed(e) => Err(ControlError::StartFailed(e)),
        }
    }

    /// OTP's `handle_start_child/2` (`simple_one_for_one`: `start_child`).
    pub(super) async fn start_child(&mut self, spec: ChildSpec) -> Result<ChildRef, ControlError> {
        check::check_spec(&spec, self.auto_shutdown).map_err(ControlError::StartFailed)?;
        match self.kind {
            Kind::Dynamic {
                max_children: Some(max),
            } if self.slots.len() >= max => return Err(ControlError::MaxChildren),
            Kind::Static(_) if self.slots.find(&spec.id).is_some() => return Err(ControlError::AlreadyPresent),
            _ => {}
        }
        let pos = self.slots.insert(Slot::new(spec));
        match self.start_slot(pos).await {
            Outcome::Running(r) => Ok(r),
            Outcome::Ignored => {
                if self.is_dynamic() {
                    self.slots.remove(pos);
                } else {
                    self.forget_ignored(pos);
                }
                Err(ControlError::Ignored)
            }
            Outcome::Failed(e) => {
                self.slots.remove(pos);
                Err(ControlError::StartFailed(e))
            }
        }
    }

    pub(super) fn counts(&self) -> ChildCounts {
        let mut c = ChildCounts {
            specs: self.slots.len(),
            ..ChildCounts::default()
        };
        for (_, s) in self.slots.iter() {
            match s.spec.kind {
                ChildKind::Supervisor => c.supervisors += 1,
                ChildKind::Worker => c.workers += 1,
            }
            if s.running().is_some() {
                c.active += 1;
            }
        }
        c
    }
}
