// storage/storage.h — what the storage module offers: the blob driver
// (content-addressed bytes, upload sessions' data), the metadata database,
// and the housekeeping that keeps them in agreement.
// Nothing here knows about HTTP.
#pragma once

#include "storage/blob_store.h"
#include "storage/maintenance.h"
#include "storage/metadata.h"
