// storage/storage.h — what the storage module offers: the blob driver
// (content-addressed bytes, upload sessions' data), the metadata database,
// the linking of blobs under the GC protocol, garbage collection, the
// integrity check, the housekeeping that keeps them in agreement, and the
// secrets keepd makes for itself (kept in files, or shared by replicas), and
// the move of a single-machine Keep into the store and database replicas share.
// Nothing here knows about HTTP.
#pragma once

#include "storage/blob_store.h"
#include "storage/fsck.h"
#include "storage/gc.h"
#include "storage/links.h"
#include "storage/maintenance.h"
#include "storage/metadata.h"
#include "storage/migrate.h"
#include "storage/secrets.h"
