//! Forged reports, spoofed headers, rate-limit evasion and cache poisoning at the HTTP edge.
