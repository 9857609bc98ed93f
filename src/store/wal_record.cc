#include "store/wal_record.h"

#include <zstd.h>

#include <bit>
#include <cstring>

#include "store/chunk_codec.h"

namespace pythond::store {

namespace {
constexpr uint8_t kWalMagic = 0xA1;  // WAL record format, version 1
constexpr uint8_t kFlagZstd = 0x01;
constexpr size_t kZstdMin = 512;  // smaller bodies are stored as they are
constexpr uint64_t kMaxBody = 256ull << 20;
}  // namespace

void WalRecordWriter::Add(int64_t series_id, int64_t time_ns,
                          const std::vector<model::Field>& fields) {
  PutVarint(body_, static_cast<uint64_t>(series_id));
  PutVarint(body_, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(time_ns) -
                                               static_cast<uint64_t>(prev_time_))));
  prev_time_ = time_ns;
  PutVarint(body_, fields.size());
  std::string scratch;
  for (const model::Field& f : fields) {
    PutVarint(body_, f.key.size());
    body_ += f.key;
    body_.push_back(static_cast<char>(TypeOf(f.value)));
    const model::FieldValue& v = f.value;
    if (auto* i = std::get_if<int64_t>(&v)) {
      PutVarint(body_, ZigZag(*i));
    } else if (auto* u = std::get_if<uint64_t>(&v)) {
      PutVarint(body_, *u);
    } else if (auto* d = std::get_if<double>(&v)) {
      uint64_t bits = std::bit_cast<uint64_t>(*d);
      for (int b = 0; b < 8; ++b) body_.push_back(static_cast<char>(bits >> (8 * b)));
    } else if (auto* b = std::get_if<bool>(&v)) {
      body_.push_back(*b ? 1 : 0);
    } else {
      std::string_view bytes;
      if (auto* s = std::get_if<std::string>(&v)) {
        bytes = *s;
      } else if (auto* by = std::get_if<model::Bytes>(&v)) {
        bytes = by->data;
      } else {
        scratch.clear();
        EncodeArray(std::get<model::Array>(v), scratch);
        bytes = scratch;
      }
      PutVarint(body_, bytes.size());
      body_ += bytes;
    }
  }
  ++count_;
}

void WalRecordWriter::Clear() {
  body_.clear();
  count_ = 0;
  prev_time_ = 0;
}

struct WalRecordWriter::ZstdContext {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~ZstdContext() { ZSTD_freeCCtx(cctx); }
};

WalRecordWriter::WalRecordWriter() = default;
WalRecordWriter::~WalRecordWriter() = default;

std::string WalRecordWriter::Finish(int level) {
  std::string out;
  out.push_back(static_cast<char>(kWalMagic));
  // A body the reader would refuse to inflate (over kMaxBody) stays uncompressed.
  if (body_.size() >= kZstdMin && body_.size() <= kMaxBody) {
    if (!zstd_) zstd_ = std::make_unique<ZstdContext>();
    packed_.resize(ZSTD_compressBound(body_.size()));
    size_t z = zstd_->cctx ? ZSTD_compressCCtx(zstd_->cctx, packed_.data(), packed_.size(),
                                               body_.data(), body_.size(), level)
                           : ZSTD_compress(packed_.data(), packed_.size(), body_.data(),
                                           body_.size(), level);
    if (!ZSTD_isError(z) && z < body_.size()) {
      out.reserve(z + 24);
      out.push_back(static_cast<char>(kFlagZstd));
      PutVarint(out, count_);
      PutVarint(out, body_.size());
      out.append(packed_.data(), z);
      Clear();
      return out;
    }
  }
  out.push_back(0);
  PutVarint(out, count_);
  out += body_;
  Clear();
  return out;
}

bool WalRecordReader::Corrupt(const std::string& why) {
  status_ = Status::IoError("corrupt WAL record: " + why);
  count_ = i_ = 0;
  return false;
}

Status WalRecordReader::Open(std::string_view record) {
  status_ = Status::Ok();
  count_ = i_ = 0;
  prev_time_ = 0;
  if (record.size() < 2 || static_cast<uint8_t>(record[0]) != kWalMagic) {
    Corrupt("not a version-1 record");
    return status_;
  }
  auto flags = static_cast<uint8_t>(record[1]);
  record.remove_prefix(2);
  uint64_t count;
  if ((flags & ~kFlagZstd) != 0 || !GetVarint(record, &count)) {
    Corrupt("bad header");
    return status_;
  }
  if (flags & kFlagZstd) {
    uint64_t len;
    if (!GetVarint(record, &len) || len > kMaxBody) {
      Corrupt("bad body length");
      return status_;
    }
    if (ZSTD_getFrameContentSize(record.data(), record.size()) != len) {
      Corrupt("zstd frame size differs from the body length");
      return status_;
    }
    owned_.resize(len);
    size_t got = ZSTD_decompress(owned_.data(), owned_.size(), record.data(), record.size());
    if (ZSTD_isError(got) || got != len) {
      Corrupt("zstd body does not decode");
      return status_;
    }
    in_ = owned_;
  } else {
    owned_.assign(record);
    in_ = owned_;
  }
  // Each sample takes at least 3 bytes.
  if (count > in_.size() / 3 + 1) {
    Corrupt("sample count larger than the body");
    return status_;
  }
  count_ = count;
  return status_;
}

bool WalRecordReader::Next(int64_t* series_id, int64_t* time_ns,
                           std::vector<model::Field>* fields) {
  if (i_ >= count_) {
    if (i_ == count_ && status_.ok() && !in_.empty()) return Corrupt("trailing bytes");
    return false;
  }
  uint64_t id, zz, nfields;
  if (!GetVarint(in_, &id) || !GetVarint(in_, &zz) || !GetVarint(in_, &nfields) ||
      nfields > in_.size()) {
    return Corrupt("truncated sample header");
  }
  *series_id = static_cast<int64_t>(id);
  prev_time_ =
      static_cast<int64_t>(static_cast<uint64_t>(prev_time_) + static_cast<uint64_t>(UnZigZag(zz)));
  *time_ns = prev_time_;
  // The caller's vector is reused: keys and strings keep their buffers from sample to sample.
  fields->resize(nfields);
  for (uint64_t f = 0; f < nfields; ++f) {
    uint64_t len;
    if (!GetVarint(in_, &len) || len >= in_.size()) return Corrupt("truncated field key");
    model::Field& field = (*fields)[f];
    field.key.assign(in_.data(), len);
    in_.remove_prefix(len);
    auto type = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    model::FieldValue& value = field.value;
    uint64_t v;
    switch (type) {
      case 1:
        if (!GetVarint(in_, &v)) return Corrupt("truncated int");
        value = UnZigZag(v);
        break;
      case 2:
        if (!GetVarint(in_, &v)) return Corrupt("truncated uint");
        value = v;
        break;
      case 3: {
        if (in_.size() < 8) return Corrupt("truncated float");
        uint64_t bits = 0;
        for (int b = 0; b < 8; ++b)
          bits |= static_cast<uint64_t>(static_cast<uint8_t>(in_[b])) << (8 * b);
        in_.remove_prefix(8);
        value = std::bit_cast<double>(bits);
        break;
      }
      case 4:
        if (in_.empty() || static_cast<uint8_t>(in_[0]) > 1) return Corrupt("bad bool");
        value = in_[0] == 1;
        in_.remove_prefix(1);
        break;
      case 5:
      case 6:
      case 7: {
        if (!GetVarint(in_, &len) || len > in_.size()) return Corrupt("truncated string");
        std::string_view bytes = in_.substr(0, len);
        in_.remove_prefix(len);
        if (type == 5) {
          if (auto* str = std::get_if<std::string>(&value)) {
            str->assign(bytes.data(), bytes.size());
          } else {
            value = std::string(bytes);
          }
        } else if (type == 6) {
          value = model::Bytes{std::string(bytes)};
        } else {
          model::Array array;
          if (!DecodeArray(bytes, &array)) return Corrupt("bad array");
          value = std::move(array);
        }
        break;
      }
      default:
        return Corrupt("unknown field type " + std::to_string(type));
    }
  }
  ++i_;
  if (i_ == count_ && !in_.empty()) return Corrupt("trailing bytes");
  return true;
}

}  // namespace pythond::store
