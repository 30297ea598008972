// storage/storage.h — what the storage module offers: the blob driver
// (content-addressed bytes, upload sessions' data), the metadata database,
// the linking of blobs under the GC protocol, garbage collection, the
// integrity check, and the housekeeping that keeps them in agreement.
// Nothing here knows about HTTP.
#pragma once

#include "storage/blob_store.h"
#include "storage/fsck.h"
#include "storage/gc.h"
#include "storage/links.h"
#include "storage/maintenance.h"
#include "storage/metadata.h"
