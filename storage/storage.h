// storage/storage.h — what the storage module offers: the blob driver
// (content-addressed bytes, upload sessions' data) and the metadata database.
// Nothing here knows about HTTP.
#pragma once

#include "storage/blob_store.h"
#include "storage/metadata.h"
