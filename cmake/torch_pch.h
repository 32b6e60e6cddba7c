// Precompiled header shared by every LibTorch-using target (see CreamConcern.cmake).
#pragma once
#include <torch/torch.h>
