// core/core.h — Keep's shared vocabulary: errors and results, digests and
// hashing, base64, the clock, repository names and references, byte ranges, manifests.
#pragma once

#include "core/base64.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/manifest.h"
#include "core/names.h"
#include "core/range.h"
