//! Differencing attacks on published counts, and backdated reports.
