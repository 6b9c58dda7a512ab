#include "storage/error.h"

namespace claw::storage {

StorageError FromRocks(const rocksdb::Status& s, const std::string& context) {
  StorageErrorCode code = StorageErrorCode::kIo;
  if (s.IsNoSpace() || s.subcode() == rocksdb::Status::kSpaceLimit) {
    code = StorageErrorCode::kNoSpace;
  } else if (s.IsCorruption()) {
    code = StorageErrorCode::kCorruption;
  } else if (s.IsInvalidArgument() || s.IsNotSupported()) {
    code = StorageErrorCode::kInvalidArgument;
  } else if (s.IsNotFound()) {
    code = StorageErrorCode::kNotFound;
  }
  return StorageError{.code = code, .message = context + ": " + s.ToString()};
}

}  // namespace claw::storage
