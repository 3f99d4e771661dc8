//! Configuration placeholder; filled below.
