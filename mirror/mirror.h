// mirror/mirror.h — what the mirror module offers: the curated mirror of
// upstream registries (DESIGN.md, "Mirror"; docs/mirror.md).
//   mirror/rule.h      mirror rules: upstream, repositories, tags, vetting
//   mirror/upstream.h  keepd as a client of an upstream registry
//   mirror/sync.h      one sync of a rule: fetch, vet, store, sign, tag
//   mirror/vetting.h   the upstream's signatures of a manifest, and their check
//   mirror/keys.h      the curator key and the key sealing credentials
//   mirror/service.h   rules, sync jobs and schedules as keepd runs them
// It uses storage/ and trust/, and knows nothing of keepd's HTTP server.
#pragma once

#include "mirror/keys.h"
#include "mirror/rule.h"
#include "mirror/service.h"
#include "mirror/sync.h"
#include "mirror/upstream.h"
#include "mirror/vetting.h"
