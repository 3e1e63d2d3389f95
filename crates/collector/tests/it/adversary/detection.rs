//! False incidents from thin evidence, incidents that never end, and hidden real incidents.
