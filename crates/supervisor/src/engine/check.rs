//! The checks OTP makes on a child list before starting any of it
//! (`check_startspec/2`): a refused list fails the supervisor's start with
//! no child started.

use std::collections::HashSet;

use crate::{AutoShutdown, ChildSpec, RestartType, StartError};

/// OTP's `validSignificant/3`, for one spec.
pub(super) fn check_spec(spec: &ChildSpec, auto_shutdown: AutoShutdown) -> Result<(), StartError> {
    if !spec.significant {
        return Ok(());
    }
    if auto_shutdown == AutoShutdown::Never {
        return Err(StartError::new(format!(
            "child `{}`: bad combination: significant under auto_shutdown never",
            spec.id
        )));
    }
    if spec.restart == RestartType::Permanent {
        return Err(StartError::new(format!(
            "child `{}`: bad combination: significant and permanent",
            spec.id
        )));
    }
    Ok(())
}

/// Each spec in list order, then its id against the earlier ones.
pub(super) fn check_specs(specs: &[ChildSpec], auto_shutdown: AutoShutdown) -> Result<(), StartError> {
    let mut seen = HashSet::new();
    for spec in specs {
        check_spec(spec, auto_shutdown)?;
        if !seen.insert(spec.id.clone()) {
            return Err(StartError::new(format!("duplicate child id `{}`", spec.id)));
        }
    }
    Ok(())
}
