//! Denormals flushed to zero for the duration of `process()`.
//!
//! A denormal (subnormal) float costs up to a hundred cycles per operation on x86; a fading
//! tail or a silent take produces them, and clap-validator measures the slowdown. The guard
//! sets flush-to-zero and denormals-are-zero in the floating-point control register of the
//! calling thread and puts the host's own setting back when dropped: the host's thread is
//! only borrowed. Samples that merely pass through are copied as bits, so pass-through stays
//! bit-exact even for denormal input.

/// Flush-to-zero while alive (x86_64: MXCSR FTZ + DAZ; aarch64: FPCR FZ). A no-op elsewhere.
#[must_use = "denormals are flushed only while the guard lives"]
pub struct FlushToZero {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    saved: usize,
}

#[cfg(target_arch = "x86_64")]
mod arch {
    /// MXCSR bits: flush-to-zero (15) and denormals-are-zero (6).
    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    pub fn read() -> usize {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the SSE control/status register (always present on x86_64)
        // into the 4 bytes we point it at.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        }
        csr as usize
    }

    pub fn write(csr: usize) {
        let csr = csr as u32;
        // SAFETY: ldmxcsr loads a value read by `read` (optionally with FTZ/DAZ set), which
        // has no reserved bits set: it cannot fault.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly, preserves_flags));
        }
    }

    pub fn flushing(csr: usize) -> usize {
        csr | FTZ_DAZ as usize
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    /// FPCR bit 24: flush-to-zero (inputs and outputs).
    const FZ: usize = 1 << 24;

    pub fn read() -> usize {
        let fpcr: usize;
        // SAFETY: reading FPCR is allowed at EL0 and has no side effects.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
        fpcr
    }

    pub fn write(fpcr: usize) {
        // SAFETY: writing FPCR at EL0 is allowed; the value is one read by `read`, with only
        // the FZ bit possibly changed.
        unsafe {
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
    }

    pub fn flushing(fpcr: usize) -> usize {
        fpcr | FZ
    }
}

impl FlushToZero {
    pub fn new() -> Self {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            let saved = arch::read();
            let flushing = arch::flushing(saved);
            if flushing != saved {
                arch::write(flushing);
            }
            Self { saved }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        Self {}
    }

    /// Whether this thread flushes denormals now.
    #[cfg(test)]
    fn active() -> bool {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        return arch::flushing(arch::read()) == arch::read();
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        false
    }
}

impl Drop for FlushToZero {
    fn drop(&mut self) {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if arch::read() != self.saved {
            arch::write(self.saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denormals_flush_inside_the_guard_and_the_host_setting_comes_back() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        let half = std::hint::black_box(0.5f32);
        assert!(!FlushToZero::active(), "test threads start without FTZ");
        assert!((tiny * half).is_subnormal());
        {
            let _guard = FlushToZero::new();
            if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
                assert!(FlushToZero::active());
                assert_eq!(std::hint::black_box(tiny * half), 0.0);
            }
        }
        assert!(
            !FlushToZero::active(),
            "the guard restores the thread's setting"
        );
        assert!((std::hint::black_box(tiny) * half).is_subnormal());
    }
}
