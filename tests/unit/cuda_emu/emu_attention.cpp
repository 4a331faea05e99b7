/* tests/unit/cuda_emu/emu_attention.cpp — kernels/attention.cu compiled as C++ for the
 * CPU emulation of CUDA (AWQ_CUDA_EMU; see cuda_emu_device.h). Test-only. */
#include "../../../kernels/attention.cu"
