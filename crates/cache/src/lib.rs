//! ETS-like table and owner (filled by the cache issue).
