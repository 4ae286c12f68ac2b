//! Where a prior's state lives (caches, conditioning, the step's inputs and outputs) and how the
//! host reads and writes it.
//!
//! On the CPU the state is host memory the engine writes directly. On CUDA it is device memory
//! from the session's own allocator, and the host reaches it only through ONNX Runtime copies
//! (`Value::copy_into`, an Identity run between the two devices): never through a host pointer
//! into device memory. [`Placement::staged_cpu`] is host memory handled exactly like device
//! memory, so every line of the device path runs in the CPU tests; the only lines that need a GPU
//! are the allocator's creation in [`Placement::for_session`].

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::value::{DynTensor, Tensor, TensorElementType};

use crate::engine::session::Device;

/// How the host reaches a tensor of the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Host memory, read and written in place.
    Direct,
    /// Only through ONNX Runtime copies (device memory, or host memory handled like it).
    Copied,
}

pub struct Placement {
    allocator: Allocator,
    access: Access,
}

impl Placement {
    /// Host memory, written in place: the CPU engine.
    pub fn cpu() -> Self {
        Self {
            allocator: Allocator::default(),
            access: Access::Direct,
        }
    }

    /// Host memory reached only through copies, as device memory is (tests of the device path).
    pub fn staged_cpu() -> Self {
        Self {
            allocator: Allocator::default(),
            access: Access::Copied,
        }
    }

    /// The state for `session`'s device: host memory on the CPU, the CUDA session's own device
    /// allocator on CUDA (so ONNX Runtime never moves a bound tensor between devices).
    pub fn for_session(device: Device, session: &Session) -> Result<Self, ort::Error> {
        match device {
            Device::Cpu => Ok(Self::cpu()),
            Device::Cuda => {
                let info = MemoryInfo::new(
                    AllocationDevice::CUDA,
                    0,
                    AllocatorType::Device,
                    MemoryType::Default,
                )?;
                Ok(Self {
                    allocator: Allocator::new(session, info)?,
                    access: Access::Copied,
                })
            }
        }
    }

    pub fn allocator(&self) -> &Allocator {
        &self.allocator
    }

    pub fn access(&self) -> Access {
        self.access
    }

    /// A tensor of the state, uninitialised (the graphs or [`Placement::upload`] fill it).
    pub fn tensor<T: ort::value::PrimitiveTensorElementType + std::fmt::Debug>(
        &self,
        shape: &[usize],
    ) -> Result<Tensor<T>, ort::Error> {
        Tensor::<T>::new(&self.allocator, shape.to_vec())
    }

    /// A tensor of the state holding zeros (0.0 in fp32 and fp16 alike): masked cache slots must
    /// hold finite values. `zeros` keeps host zero tensors between calls (one per shape).
    pub fn zeroed(
        &self,
        dtype: TensorElementType,
        shape: &[usize],
        zeros: &mut Vec<DynTensor>,
    ) -> Result<DynTensor, ort::Error> {
        let mut tensor = DynTensor::new(&self.allocator, dtype, shape.to_vec())?;
        match self.access {
            Access::Direct => zero_host(&mut tensor),
            Access::Copied => {
                let same = |t: &DynTensor| {
                    *t.data_type() == dtype
                        && t.shape()
                            .iter()
                            .map(|&d| d as usize)
                            .eq(shape.iter().copied())
                };
                let index = match zeros.iter().position(same) {
                    Some(index) => index,
                    None => {
                        let mut host =
                            DynTensor::new(&Allocator::default(), dtype, shape.to_vec())?;
                        zero_host(&mut host);
                        zeros.push(host);
                        zeros.len() - 1
                    }
                };
                zeros[index].copy_into(&mut tensor)?;
            }
        }
        Ok(tensor)
    }

    /// Writes `values` into `target` (same length), through `staging` (a host tensor of the
    /// same shape) when the target is not host memory written in place.
    pub fn upload<T>(
        &self,
        values: &[T],
        target: &mut Tensor<T>,
        staging: &mut Tensor<T>,
    ) -> Result<(), ort::Error>
    where
        T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Copy,
    {
        match self.access {
            Access::Direct => target.extract_tensor_mut().1.copy_from_slice(values),
            Access::Copied => {
                staging.extract_tensor_mut().1.copy_from_slice(values);
                staging.copy_into(target)?;
            }
        }
        Ok(())
    }

    /// The values of `source`, read in place or copied into `staging` (a host tensor of the same
    /// shape) first.
    pub fn download<'a, T>(
        &self,
        source: &'a Tensor<T>,
        staging: &'a mut Tensor<T>,
    ) -> Result<&'a [T], ort::Error>
    where
        T: ort::value::PrimitiveTensorElementType + std::fmt::Debug,
    {
        match self.access {
            Access::Direct => Ok(source.extract_tensor().1),
            Access::Copied => {
                source.copy_into(&mut *staging)?;
                Ok(staging.extract_tensor().1)
            }
        }
    }
}

impl Placement {
    /// Copies `source` into `target` (same dtype and shape, both of this placement).
    pub fn copy(&self, source: &DynTensor, target: &mut DynTensor) -> Result<(), ort::Error> {
        match self.access {
            Access::Direct => {
                let bytes = source
                    .data_type()
                    .byte_size(source.shape().num_elements())
                    .unwrap_or(0);
                let from = source.data_ptr().cast::<u8>();
                let to = target.data_ptr_mut().cast::<u8>();
                if bytes > 0 && !from.is_null() && !to.is_null() {
                    // SAFETY: both are host tensors of ONNX Runtime with `bytes` bytes (same
                    // dtype and shape, checked by the caller's construction), distinct buffers.
                    unsafe { std::ptr::copy_nonoverlapping(from, to, bytes) };
                }
                Ok(())
            }
            Access::Copied => source.copy_into(target),
        }
    }
}

/// A host tensor for staging copies of a state tensor's shape.
pub fn host_tensor<T: ort::value::PrimitiveTensorElementType + std::fmt::Debug>(
    shape: &[usize],
) -> Result<Tensor<T>, ort::Error> {
    Tensor::<T>::new(&Allocator::default(), shape.to_vec())
}

/// Zeroes a host tensor's bytes.
fn zero_host(tensor: &mut DynTensor) {
    let bytes = tensor
        .data_type()
        .byte_size(tensor.shape().num_elements())
        .unwrap_or(0);
    let data = tensor.data_ptr_mut().cast::<u8>();
    if bytes > 0 && !data.is_null() {
        // SAFETY: the tensor was allocated in host memory by ONNX Runtime with exactly `bytes`
        // bytes of data, and nothing else refers to it yet.
        unsafe { std::ptr::write_bytes(data, 0, bytes) };
    }
}
