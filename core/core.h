// core/core.h — Keep's shared vocabulary: errors and results, digests and
// hashing, repository names and references, byte ranges, manifests.
#pragma once

#include "core/digest.h"
#include "core/error.h"
#include "core/manifest.h"
#include "core/names.h"
#include "core/range.h"
