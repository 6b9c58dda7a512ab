// StorageError: what went wrong in storage/, as a small value type returned in std::expected.
// Codes map one-to-one onto the client-facing claw.v1.Error codes where one exists (kNoSpace ->
// NO_SPACE); the server does that mapping, storage/ never includes gRPC.
#pragma once

#include <cstdint>
#include <string>

#include <rocksdb/status.h>

namespace claw::storage {

enum class StorageErrorCode : uint8_t {
  kIo,               // the disk or filesystem failed; the operation may be retried
  kNoSpace,          // the disk is full: writes are refused until space returns
  kCorruption,       // stored data failed a checksum or does not decode: never served
  kInvalidArgument,  // bad configuration or input; says which
  kNotFound,
};

struct StorageError {
  StorageErrorCode code = StorageErrorCode::kIo;
  std::string message{};
};

// Maps a RocksDB status (which must not be ok) to a StorageError, prefixing `context`.
StorageError FromRocks(const rocksdb::Status& s, const std::string& context);

}  // namespace claw::storage
