// The S3 BlobDriver (storage/blob_store.h): blobs as objects of one bucket.
//
// Keys, under the configured prefix:
//   blobs/<algorithm>/<hex>        a published blob
//   uploads/<id>/<offset, 16 hex>  an upload session's bytes from that offset
//   tmp/<random>/<offset, 16 hex>  a one-request write's bytes (Create)
//   quarantine/<algorithm>-<hex>.<unix time>  a blob the integrity check moved aside
//
// Bytes are written in parts of at least storage.s3.part_size_mib (S3 wants
// 5 MiB for all but the last part of a multipart upload). A session's last
// part may be smaller when a request ends; the next request on any replica
// reads it back and writes it again, longer, under the same key, so every
// key always holds a valid run of the session's bytes. A blob becomes
// visible only when its digest matched: the parts are then copied by the
// store into blobs/<algorithm>/<hex> (one copy, or a multipart upload of
// part copies), and removed.
#include "storage/blob_store.h"
#include "storage/s3_client.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace keep {
namespace {

constexpr std::size_t kMaxParts = 10000;

std::string OffsetName(std::uint64_t offset) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(offset));
  return buf;
}

// Upload ids are made by the server (hex); anything else never becomes a key.
Result<std::string> AreaOf(const std::string& id) {
  bool hex = !id.empty() && id.size() <= 64 &&
             id.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex) return Fail(ErrorCode::kBlobUploadUnknown, "upload session not found");
  return "uploads/" + id + "/";
}

std::string BlobKey(const Digest& d) {
  return "blobs/" + std::string(d.algorithm_name()) + "/" + d.hex();
}

// "Wed, 12 Oct 2009 17:50:00 GMT" (headers) or "2009-10-12T17:50:00.000Z"
// (listings) as unix seconds; 0 when neither.
std::int64_t ParseTime(const std::string& s) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (end == nullptr) end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

struct Object {
  std::string key;  // relative to the prefix
  std::uint64_t size = 0;
  std::int64_t modified = 0;
};

struct Part {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

Error StoreError(const std::string& what, const S3Response& r) {
  if (r.status == 507 || (r.status == 403 && XmlText(r.body, "Code") == "QuotaExceeded")) {
    return Fail(ErrorCode::kInsufficientStorage,
                "the registry's blob store is full; ask its operator to free space, then retry");
  }
  return OperatorFault(ErrorCode::kInternal,
                       "the blob store refused " + S3Client::Describe(what, r));
}

// What an upload writer has not yet written to the store, for readers of
// the same session in this process (OpenUpload follows a write in progress).
// Readers and the writer of a session in one process share it. Once the
// session is committed, its parts go and readers go on from the blob.
struct Tail {
  std::mutex mu;
  std::uint64_t base = 0;     // GUARDED_BY(mu): the offset of bytes[0]
  std::string bytes;          // GUARDED_BY(mu)
  std::string committed_key;  // GUARDED_BY(mu): the blob the session became
};

// Small blobs (manifests, configs) as last read or written, by digest: a
// manifest GET costs no round trip to the store. Content-addressed, so an
// entry is never stale; the least recently used go past kCacheBytes.
class SmallCache {
 public:
  static constexpr std::size_t kCacheBytes = 32 << 20;
  static constexpr std::size_t kLargest = 256 << 10;

  std::optional<std::string> Get(const std::string& digest) {
    std::lock_guard lock(mu_);
    auto it = index_.find(digest);
    if (it == index_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }

  void Put(const std::string& digest, std::string_view bytes) {
    if (bytes.size() > kLargest) return;
    std::lock_guard lock(mu_);
    if (index_.contains(digest)) return;
    order_.emplace_front(digest, std::string(bytes));
    index_[digest] = order_.begin();
    held_ += bytes.size();
    while (held_ > kCacheBytes && !order_.empty()) {
      held_ -= order_.back().second.size();
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  void Drop(const std::string& digest) {
    std::lock_guard lock(mu_);
    auto it = index_.find(digest);
    if (it == index_.end()) return;
    held_ -= it->second->second.size();
    order_.erase(it->second);
    index_.erase(it);
  }

 private:
  using Entry = std::pair<std::string, std::string>;
  std::mutex mu_;
  std::list<Entry> order_;                                             // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;  // GUARDED_BY(mu_)
  std::size_t held_ = 0;                                               // GUARDED_BY(mu_)
};

class S3Driver;

class S3Writer final : public BlobWriter {
 public:
  S3Writer(S3Driver* driver, std::string area, std::string upload_id, std::vector<Part> parts,
           std::string buffer, std::uint64_t buffer_base, std::optional<Hasher> hasher,
           std::shared_ptr<Tail> tail);
  ~S3Writer() override;
  Result<void> Write(const void* data, std::size_t n) override;
  std::uint64_t size() const override { return buffer_base_ + buffer_.size(); }
  Result<void> Commit(const Digest& expected) override;
  Result<void> Close() override;

 private:
  Result<void> Flush();
  Result<Hasher> Rehash(DigestAlgorithm algorithm);

  S3Driver* driver_;
  std::string area_;         // "uploads/<id>/" or "tmp/<random>/"
  std::string upload_id_;    // empty for a one-request write
  std::vector<Part> parts_;  // in the store, in order, ending at buffer_base_
  std::string buffer_;
  std::uint64_t buffer_base_;
  std::optional<Hasher> hasher_;  // nullopt: state lost, rehash on commit
  std::shared_ptr<Tail> tail_;    // sessions only
  bool committed_ = false;
  bool closed_ = false;  // Close() wrote the buffer: nothing is left to write
  bool broken_ = false;  // a part write failed: the buffer is not written on close
};

class S3Driver final : public BlobDriver {
 public:
  S3Driver(std::unique_ptr<S3Client> client, const S3DriverOptions& options)
      : client_(std::move(client)), name_(options.s3.bucket), prefix_(options.s3.prefix),
        part_size_(options.part_size), redirect_seconds_(options.redirect_seconds) {}

  S3Client& client() { return *client_; }
  std::uint64_t part_size() const { return part_size_; }

  Result<void> Init() {
    // The bucket must exist and be ours to write: a clear error at start.
    auto r = client_->Call("HEAD", "", {});
    if (!r) return r.error();
    if (r->status == 404) {
      return OperatorFault(ErrorCode::kInternal,
                           "the S3 bucket " + name_ + " does not exist; create it first");
    }
    if (r->status == 403) {
      return OperatorFault(ErrorCode::kInternal,
                           "the S3 store refused the credentials (403): check "
                           "storage.s3.access_key and the secret key, and that they may use "
                           "the bucket " +
                               name_);
    }
    if (r->status != 200) return StoreError("HEAD " + name_, *r);
    return CheckWritable();
  }

  // The store's answer to a HEAD of the blob: empty when it has no such blob.
  Result<std::optional<S3Response>> Head(const Digest& d) {
    auto r = client_->Call("HEAD", BlobKey(d), {});
    if (!r) return r.error();
    if (r->status == 404) return std::optional<S3Response>();
    if (r->status != 200) return StoreError("HEAD " + BlobKey(d), *r);
    return std::optional<S3Response>(std::move(*r));
  }

  Result<std::optional<std::uint64_t>> Stat(const Digest& d) override {
    auto r = Head(d);
    if (!r) return r.error();
    if (!*r) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>((*r)->content_length.value_or(0));
  }

  Result<std::unique_ptr<BlobReader>> Open(const Digest& d) override;

  Result<std::unique_ptr<BlobWriter>> Create() override {
    return std::unique_ptr<BlobWriter>(
        new S3Writer(this, "tmp/" + RandomHex(16) + "/", "", {}, {}, 0, Hasher(), nullptr));
  }

  Result<void> PutSmall(const Digest& d, std::string_view bytes) override {
    Hasher h(d.algorithm());
    h.Update(bytes);
    if (Digest actual = h.Finish(); actual != d) {
      return Fail(ErrorCode::kDigestInvalid,
                  "the content has digest " + actual.str() + ", not " + d.str());
    }
    KEEP_TRY(Put(BlobKey(d), bytes));
    small_.Put(d.str(), bytes);
    return {};
  }

  Result<std::string> ReadSmall(const Digest& d, std::size_t max) override {
    if (auto cached = small_.Get(d.str()); cached && cached->size() <= max) return *cached;
    auto dl = client_->Get(BlobKey(d), 0);
    if (!dl) return dl.error();
    if ((*dl)->object_size() > max) {
      return Fail(ErrorCode::kTooLarge,
                  "blob " + d.str() + " is larger than " + std::to_string(max) + " bytes");
    }
    std::string out((*dl)->object_size(), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
      auto n = (*dl)->Read(out.data() + got, out.size() - got);
      if (!n) return n.error();
      if (*n == 0) break;
      got += *n;
    }
    if (got != out.size()) {
      return OperatorFault(ErrorCode::kInternal, "blob " + d.str() + " ended early in the store");
    }
    // Only what hashes to its digest is kept for the next read.
    Hasher h(d.algorithm());
    h.Update(out);
    if (h.Finish() == d) small_.Put(d.str(), out);
    return out;
  }

  Result<void> Delete(const Digest& d) override {
    small_.Drop(d.str());
    return Remove(BlobKey(d));
  }

  Result<void> ForEachBlob(const std::function<Result<void>(const BlobFile&)>& fn) override {
    return List("blobs/", [&](const Object& o) -> Result<void> {
      BlobFile f;
      f.path = "s3://" + name_ + "/" + o.key;
      f.size = o.size;
      // A time the store wrote in a form not understood counts as now: GC
      // keeps the blob rather than take it for ancient.
      f.published_at = o.modified > 0 ? o.modified : std::time(nullptr);
      // blobs/<algorithm>/<hex>
      std::string_view rest = std::string_view(o.key).substr(6);
      if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        auto d = Digest::Parse(std::string(rest.substr(0, slash)) + ":" +
                               std::string(rest.substr(slash + 1)));
        if (d && BlobKey(*d) == o.key) f.digest = *d;
      }
      return fn(f);
    });
  }

  Result<std::optional<std::int64_t>> PublishedAt(const Digest& d) override {
    auto r = Head(d);
    if (!r) return r.error();
    if (!*r) return std::optional<std::int64_t>();
    std::int64_t at = ParseTime((*r)->last_modified);
    return std::optional<std::int64_t>(at > 0 ? at : std::time(nullptr));
  }

  Result<std::string> Quarantine(const Digest& d) override {
    auto size = Stat(d);
    if (!size) return size.error();
    if (!*size) return Fail(ErrorCode::kBlobUnknown, "blob unknown to registry");
    small_.Drop(d.str());
    // Named with the time, as a blob may be quarantined more than once.
    std::string to = "quarantine/" + std::string(d.algorithm_name()) + "-" + d.hex() + "." +
                     std::to_string(std::time(nullptr));
    KEEP_TRY(Assemble(to, {std::string(BlobKey(d))}, {**size}));
    KEEP_TRY(Remove(BlobKey(d)));
    return "s3://" + name_ + "/" + to;
  }

  Result<int> RemoveTemporaryFiles() override {
    // Other replicas may be writing: only writes idle for an hour are removed.
    std::map<std::string, std::int64_t> newest;
    std::vector<Object> all;
    KEEP_TRY(List("tmp/", [&](const Object& o) -> Result<void> {
      std::string area = o.key.substr(0, o.key.find('/', 4) + 1);
      newest[area] = std::max(newest[area], o.modified);
      all.push_back(o);
      return {};
    }));
    std::int64_t cutoff = std::time(nullptr) - 3600;
    int removed = 0;
    for (const Object& o : all) {
      if (newest[o.key.substr(0, o.key.find('/', 4) + 1)] >= cutoff) continue;
      KEEP_TRY(Remove(o.key));
      ++removed;
    }
    return removed;
  }

  Result<void> CreateUpload(const std::string& id) override {
    auto area = AreaOf(id);
    if (!area) return area.error();
    // An id made again (the mirror's are derived from what they fetch)
    // starts from nothing: what an earlier session left would not follow on.
    KEEP_TRY(RemoveArea(*area));
    {
      std::lock_guard lock(mu_);
      states_.erase(id);
    }
    return Put(*area + OffsetName(0), {});
  }

  Result<std::uint64_t> UploadSize(const std::string& id) override {
    auto area = AreaOf(id);
    if (!area) return area.error();
    auto parts = Parts(*area);
    if (!parts) return parts.error();
    if (parts->empty()) return Fail(ErrorCode::kBlobUploadUnknown, "upload session not found");
    return parts->back().offset + parts->back().size;
  }

  Result<std::unique_ptr<BlobWriter>> ResumeUpload(const std::string& id) override;

  Result<void> DeleteUpload(const std::string& id) override {
    auto area = AreaOf(id);
    if (!area) return area.error();
    KEEP_TRY(RemoveArea(*area));
    std::lock_guard lock(mu_);
    states_.erase(id);
    tails_.erase(id);
    return {};
  }

  Result<std::unique_ptr<BlobReader>> OpenUpload(const std::string& id) override;

  Result<std::vector<std::string>> ListUploads() override {
    std::unordered_set<std::string> ids;
    KEEP_TRY(List("uploads/", [&](const Object& o) -> Result<void> {
      auto slash = o.key.find('/', 8);
      if (slash != std::string::npos) ids.insert(o.key.substr(8, slash - 8));
      return {};
    }));
    return std::vector<std::string>(ids.begin(), ids.end());
  }

  Result<void> CheckWritable() override {
    std::string key = "readyz/" + RandomHex(8);
    KEEP_TRY(Put(key, "ready"));
    return Remove(key);
  }

  bool remote() const override { return true; }

  std::optional<std::string> DirectUrl(const Digest& d) override {
    if (redirect_seconds_ <= 0) return std::nullopt;
    return client_->PresignedGet(BlobKey(d), redirect_seconds_);
  }

  // --- for the writer and readers ---

  Result<void> Put(const std::string& key, std::string_view bytes) {
    auto r = client_->Call("PUT", key, {}, {}, bytes);
    if (!r) return r.error();
    if (r->status != 200) return StoreError("PUT " + key, *r);
    return {};
  }

  Result<void> Remove(const std::string& key) {
    auto r = client_->Call("DELETE", key, {});
    if (!r) return r.error();
    if (r->status != 204 && r->status != 200 && r->status != 404) {
      return StoreError("DELETE " + key, *r);
    }
    return {};
  }

  // Removes every object under area.
  Result<void> RemoveArea(const std::string& area) {
    std::vector<std::string> keys;
    KEEP_TRY(List(area, [&](const Object& o) -> Result<void> {
      keys.push_back(o.key);
      return {};
    }));
    for (const std::string& key : keys) KEEP_TRY(Remove(key));
    return {};
  }

  // Every object under prefix, in key order (pages of 1,000).
  Result<void> List(const std::string& prefix,
                    const std::function<Result<void>(const Object&)>& fn) {
    std::string token;
    while (true) {
      SigV4Pairs query{{"list-type", "2"}, {"prefix", Prefixed(prefix)}};
      if (!token.empty()) query.emplace_back("continuation-token", token);
      auto r = client_->Call("GET", "", query);
      if (!r) return r.error();
      if (r->status != 200) return StoreError("list " + prefix, *r);
      for (std::string_view item : XmlElements(r->body, "Contents")) {
        Object o;
        o.key = XmlText(item, "Key");
        if (!o.key.starts_with(Prefixed(""))) continue;
        o.key = o.key.substr(Prefixed("").size());
        std::string size = XmlText(item, "Size");
        std::from_chars(size.data(), size.data() + size.size(), o.size);
        o.modified = ParseTime(XmlText(item, "LastModified"));
        KEEP_TRY(fn(o));
      }
      if (XmlText(r->body, "IsTruncated") != "true") return {};
      token = XmlText(r->body, "NextContinuationToken");
      if (token.empty()) return {};
    }
  }

  // The parts under area, checked to follow each other from offset 0.
  Result<std::vector<Part>> Parts(const std::string& area) {
    std::vector<Part> parts;
    KEEP_TRY(List(area, [&](const Object& o) -> Result<void> {
      std::string_view name = std::string_view(o.key).substr(area.size());
      Part p;
      auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), p.offset, 16);
      if (name.size() != 16 || ec != std::errc{} || end != name.data() + name.size()) {
        return OperatorFault(ErrorCode::kInternal, "a stray object in the blob store: " + o.key);
      }
      p.size = o.size;
      parts.push_back(p);
      return {};
    }));
    std::uint64_t expect = 0;
    for (const Part& p : parts) {
      if (p.offset != expect) {
        return OperatorFault(ErrorCode::kInternal, "the blob store holds a gap in " + area +
                                                       " at " + std::to_string(expect));
      }
      expect += p.size;
    }
    return parts;
  }

  // Makes `to` hold the concatenation of `from` (whose sizes are given) by
  // copies inside the store.
  Result<void> Assemble(const std::string& to, const std::vector<std::string>& from,
                        const std::vector<std::uint64_t>& sizes) {
    if (from.size() == 1 && sizes[0] < (std::uint64_t{5} << 30)) {
      auto r = client_->Call("PUT", to, {},
                             {{"x-amz-copy-source", client_->CopySource(from[0])},
                              {"x-amz-metadata-directive", "REPLACE"}});
      if (!r) return r.error();
      if (r->status != 200 || r->body.find("<Error>") != std::string::npos) {
        return StoreError("copy to " + to, *r);
      }
      return {};
    }
    if (from.size() > kMaxParts) {
      return Fail(ErrorCode::kTooLarge,
                  "the blob has more than 10,000 parts; raise storage.s3.part_size_mib");
    }
    auto started = client_->Call("POST", to, {{"uploads", ""}});
    if (!started) return started.error();
    if (started->status != 200) return StoreError("start a multipart upload of " + to, *started);
    std::string upload_id = XmlText(started->body, "UploadId");
    std::string complete = "<CompleteMultipartUpload>";
    for (std::size_t i = 0; i < from.size(); ++i) {
      std::string number = std::to_string(i + 1);
      auto r = client_->Call("PUT", to, {{"partNumber", number}, {"uploadId", upload_id}},
                             {{"x-amz-copy-source", client_->CopySource(from[i])}});
      if (!r || r->status != 200 || r->body.find("<Error>") != std::string::npos) {
        (void)client_->Call("DELETE", to, {{"uploadId", upload_id}});
        if (!r) return r.error();
        return StoreError("copy a part into " + to, *r);
      }
      complete += "<Part><PartNumber>" + number + "</PartNumber><ETag>" + XmlText(r->body, "ETag") +
                  "</ETag></Part>";
    }
    complete += "</CompleteMultipartUpload>";
    auto done = client_->Call("POST", to, {{"uploadId", upload_id}}, {}, complete);
    if (!done || done->status != 200 || done->body.find("<Error>") != std::string::npos) {
      (void)client_->Call("DELETE", to, {{"uploadId", upload_id}});
      if (!done) return done.error();
      return StoreError("complete the multipart upload of " + to, *done);
    }
    return {};
  }

  // An upload writer closed: its hash state is kept for the next request.
  void Release(const std::string& id, std::optional<Hasher> hasher, std::uint64_t size) {
    std::lock_guard lock(mu_);
    busy_.erase(id);
    tails_.erase(id);
    if (hasher) {
      states_.insert_or_assign(id, State{std::move(*hasher), size});
    } else {
      states_.erase(id);
    }
  }

  // Sessions committed lately, and the blob each became: a reader that
  // finds the parts gone goes on from there (the last 4,096 are kept).
  void NoteCommitted(const std::string& id, const std::string& key) {
    std::lock_guard lock(mu_);
    if (committed_.emplace(id, key).second) committed_order_.push_back(id);
    while (committed_order_.size() > 4096) {
      committed_.erase(committed_order_.front());
      committed_order_.pop_front();
    }
  }
  std::string CommittedBlob(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = committed_.find(id);
    return it == committed_.end() ? std::string() : it->second;
  }

  // The session's tail shared with its writer in this process (made for a
  // reader that comes first; the writer's release drops the driver's hold).
  std::shared_ptr<Tail> TailOf(const std::string& id) {
    std::lock_guard lock(mu_);
    auto& shared = tails_[id];
    if (!shared) shared = std::make_shared<Tail>();
    return shared;
  }

 private:
  std::string Prefixed(const std::string& key) const { return prefix_ + key; }

  struct State {
    Hasher hasher;
    std::uint64_t size;
  };

  std::unique_ptr<S3Client> client_;
  std::string name_;
  std::string prefix_;
  std::uint64_t part_size_;
  int redirect_seconds_;
  SmallCache small_;
  std::mutex mu_;
  std::unordered_set<std::string> busy_;                          // GUARDED_BY(mu_)
  std::unordered_map<std::string, State> states_;                 // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::shared_ptr<Tail>> tails_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::string> committed_;        // GUARDED_BY(mu_)
  std::deque<std::string> committed_order_;                       // GUARDED_BY(mu_)
};

// Reads objects (a blob, or a session's parts) through downloads that go on
// from where the last read stopped.
class S3Reader final : public BlobReader {
 public:
  // A published blob: one object.
  S3Reader(S3Driver* driver, std::string key, std::unique_ptr<S3Download> first)
      : driver_(driver), size_(first->object_size()) {
    parts_.push_back({std::move(key), 0, size_});
    download_ = std::move(first);
  }
  // An upload session: its parts, and what its writer in this process holds.
  S3Reader(S3Driver* driver, std::string id, std::string area, std::vector<Part> parts,
           std::shared_ptr<Tail> tail)
      : driver_(driver), id_(std::move(id)), area_(std::move(area)), tail_(std::move(tail)) {
    for (const Part& p : parts) parts_.push_back({area_ + OffsetName(p.offset), p.offset, p.size});
    size_ = parts.empty() ? 0 : parts.back().offset + parts.back().size;
    if (tail_) {
      std::lock_guard lock(tail_->mu);
      size_ = std::max(size_, tail_->base + tail_->bytes.size());
    }
  }

  std::uint64_t size() const override { return size_; }

  Result<std::size_t> ReadAt(void* buf, std::size_t n, std::uint64_t offset) override {
    std::size_t got = 0;
    auto* out = static_cast<char*>(buf);
    while (got < n) {
      auto r = ReadSome(out + got, n - got, offset + got);
      if (!r) return got > 0 ? Result<std::size_t>(got) : r;
      if (*r == 0) break;
      got += *r;
    }
    return got;
  }

 private:
  struct Piece {
    std::string key;
    std::uint64_t offset;
    std::uint64_t size;
  };

  // A session's reader that finds its parts gone looks again whether the
  // session was committed meanwhile (its parts are removed then), and goes
  // on from the blob.
  Result<std::size_t> ReadSome(char* buf, std::size_t n, std::uint64_t offset) {
    auto r = ReadOnce(buf, n, offset);
    if ((r && *r > 0) || id_.empty() || area_.empty()) return r;
    std::string key = driver_->CommittedBlob(id_);
    if (key.empty()) return r;
    FollowBlob(key);
    return ReadOnce(buf, n, offset);
  }

  void FollowBlob(const std::string& key) {
    parts_ = {Piece{key, 0, std::numeric_limits<std::uint64_t>::max()}};
    area_.clear();
    download_.reset();
  }

  Result<std::size_t> ReadOnce(char* buf, std::size_t n, std::uint64_t offset) {
    if (tail_) {
      std::lock_guard lock(tail_->mu);
      if (!tail_->committed_key.empty() && !area_.empty()) {
        // Committed: the parts are going; the blob holds the same bytes.
        FollowBlob(tail_->committed_key);
      }
      if (offset >= tail_->base && offset < tail_->base + tail_->bytes.size()) {
        std::size_t k = std::min<std::uint64_t>(n, tail_->base + tail_->bytes.size() - offset);
        std::copy_n(tail_->bytes.data() + (offset - tail_->base), k, buf);
        return k;
      }
    }
    const Piece* piece = Find(offset);
    if (piece == nullptr && !area_.empty()) {
      // A session that grew since: its parts are listed again.
      auto parts = driver_->Parts(area_);
      if (!parts) return parts.error();
      parts_.clear();
      for (const Part& p : *parts)
        parts_.push_back({area_ + OffsetName(p.offset), p.offset, p.size});
      piece = Find(offset);
      download_.reset();
    }
    if (piece == nullptr) return std::size_t{0};
    if (!download_ || position_ != offset || current_ != piece) {
      auto dl = driver_->client().Get(piece->key, offset - piece->offset);
      if (!dl) return dl.error();
      download_ = std::move(*dl);
      position_ = offset;
      current_ = piece;
    }
    std::size_t want = std::min<std::uint64_t>(n, piece->offset + piece->size - offset);
    auto r = download_->Read(buf, want);
    if (!r) {
      download_.reset();
      return r.error();
    }
    position_ += *r;
    if (*r == 0) download_.reset();
    return *r;
  }

  const Piece* Find(std::uint64_t offset) const {
    for (const Piece& p : parts_) {
      if (offset >= p.offset && offset < p.offset + p.size) return &p;
    }
    return nullptr;
  }

  S3Driver* driver_;
  std::string id_;    // a session's id; empty for a blob
  std::string area_;  // a session's parts; empty for a blob, or once committed
  std::shared_ptr<Tail> tail_;
  std::vector<Piece> parts_;
  std::uint64_t size_ = 0;
  std::unique_ptr<S3Download> download_;
  std::uint64_t position_ = 0;
  const Piece* current_ = nullptr;
};

Result<std::unique_ptr<BlobReader>> S3Driver::Open(const Digest& d) {
  auto dl = client_->Get(BlobKey(d), 0);
  if (!dl) return dl.error();
  return std::unique_ptr<BlobReader>(new S3Reader(this, BlobKey(d), std::move(*dl)));
}

Result<std::unique_ptr<BlobWriter>> S3Driver::ResumeUpload(const std::string& id) {
  auto checked = AreaOf(id);
  if (!checked) return checked.error();
  const std::string& area = *checked;
  {
    std::lock_guard lock(mu_);
    if (!busy_.insert(id).second) {
      return Fail(ErrorCode::kBlobUploadInvalid,
                  "another request is writing to this upload session; retry when it ends");
    }
  }
  auto release = [&] {
    std::lock_guard lock(mu_);
    busy_.erase(id);
  };
  auto parts = Parts(area);
  if (!parts) {
    release();
    return parts.error();
  }
  if (parts->empty()) {
    release();
    return Fail(ErrorCode::kBlobUploadUnknown, "upload session not found");
  }
  std::uint64_t size = parts->back().offset + parts->back().size;
  // A last part shorter than a part is read back, to be written again longer.
  std::string buffer;
  std::uint64_t base = size;
  if (parts->back().size < part_size_) {
    base = parts->back().offset;
    auto dl = client_->Get(area + OffsetName(base), 0);
    if (!dl) {
      release();
      return dl.error();
    }
    buffer.resize(parts->back().size);
    std::size_t got = 0;
    while (got < buffer.size()) {
      auto n = (*dl)->Read(buffer.data() + got, buffer.size() - got);
      if (!n || *n == 0) {
        release();
        return n ? OperatorFault(ErrorCode::kInternal, "an upload's part ended early") : n.error();
      }
      got += *n;
    }
    parts->pop_back();
  }
  std::optional<Hasher> hasher;
  std::shared_ptr<Tail> tail;
  {
    std::lock_guard lock(mu_);
    if (auto it = states_.find(id); it != states_.end() && it->second.size == size) {
      hasher = std::move(it->second.hasher);
    }
    states_.erase(id);
    auto& shared = tails_[id];  // readers opened before may hold it already
    if (!shared) shared = std::make_shared<Tail>();
    tail = shared;
  }
  {
    std::lock_guard lock(tail->mu);
    tail->base = base;
    tail->bytes = buffer;
    tail->committed_key.clear();
  }
  if (!hasher && size == 0) hasher.emplace();
  return std::unique_ptr<BlobWriter>(new S3Writer(
      this, area, id, std::move(*parts), std::move(buffer), base, std::move(hasher), tail));
}

Result<std::unique_ptr<BlobReader>> S3Driver::OpenUpload(const std::string& id) {
  auto checked = AreaOf(id);
  if (!checked) return checked.error();
  const std::string& area = *checked;
  auto parts = Parts(area);
  if (!parts) return parts.error();
  if (parts->empty()) return Fail(ErrorCode::kBlobUploadUnknown, "upload session not found");
  return std::unique_ptr<BlobReader>(new S3Reader(this, id, area, std::move(*parts), TailOf(id)));
}

S3Writer::S3Writer(S3Driver* driver, std::string area, std::string upload_id,
                   std::vector<Part> parts, std::string buffer, std::uint64_t buffer_base,
                   std::optional<Hasher> hasher, std::shared_ptr<Tail> tail)
    : driver_(driver), area_(std::move(area)), upload_id_(std::move(upload_id)),
      parts_(std::move(parts)), buffer_(std::move(buffer)), buffer_base_(buffer_base),
      hasher_(std::move(hasher)), tail_(std::move(tail)) {
  buffer_.reserve(driver_->part_size());
}

S3Writer::~S3Writer() {
  if (upload_id_.empty()) {
    // A one-request write leaves nothing behind, committed or not.
    for (const Part& p : parts_) (void)driver_->Remove(area_ + OffsetName(p.offset));
    return;
  }
  bool kept = committed_ || closed_;
  if (!kept && !broken_) kept = static_cast<bool>(Flush());
  driver_->Release(upload_id_, kept && !committed_ ? std::move(hasher_) : std::nullopt, size());
}

Result<void> S3Writer::Write(const void* data, std::size_t n) {
  if (broken_)
    return OperatorFault(ErrorCode::kInternal, "an earlier write to the blob store failed");
  if (closed_)
    return OperatorFault(ErrorCode::kInternal, "a write after the session's writer closed");
  if (hasher_) hasher_->Update(data, n);
  buffer_.append(static_cast<const char*>(data), n);
  if (tail_) {
    std::lock_guard lock(tail_->mu);
    tail_->bytes.append(static_cast<const char*>(data), n);
  }
  if (buffer_.size() >= driver_->part_size()) {
    if (auto r = Flush(); !r) {
      broken_ = true;
      return r;
    }
  }
  return {};
}

Result<void> S3Writer::Close() {
  if (upload_id_.empty() || committed_ || closed_) return {};
  if (broken_)
    return OperatorFault(ErrorCode::kInternal, "an earlier write to the blob store failed");
  if (auto r = Flush(); !r) {
    broken_ = true;
    return r;
  }
  closed_ = true;
  return {};
}

// Writes the buffer as the part at buffer_base_ (replacing a shorter one).
Result<void> S3Writer::Flush() {
  if (buffer_.empty()) return {};
  KEEP_TRY(driver_->Put(area_ + OffsetName(buffer_base_), buffer_));
  parts_.push_back({buffer_base_, buffer_.size()});
  buffer_base_ += buffer_.size();
  buffer_.clear();
  if (tail_) {
    std::lock_guard lock(tail_->mu);
    tail_->base = buffer_base_;
    tail_->bytes.clear();
  }
  return {};
}

Result<Hasher> S3Writer::Rehash(DigestAlgorithm algorithm) {
  Hasher h(algorithm);
  std::string chunk(1 << 20, '\0');
  for (const Part& p : parts_) {
    auto dl = driver_->client().Get(area_ + OffsetName(p.offset), 0);
    if (!dl) return dl.error();
    std::uint64_t left = p.size;
    while (left > 0) {
      auto n = (*dl)->Read(chunk.data(), std::min<std::uint64_t>(chunk.size(), left));
      if (!n) return n.error();
      if (*n == 0) return OperatorFault(ErrorCode::kInternal, "an upload's part ended early");
      h.Update(chunk.data(), *n);
      left -= *n;
    }
  }
  h.Update(buffer_);
  return h;
}

Result<void> S3Writer::Commit(const Digest& expected) {
  if (!hasher_ || hasher_->algorithm() != expected.algorithm()) {
    auto h = Rehash(expected.algorithm());
    if (!h) return h.error();
    hasher_ = std::move(*h);
  }
  Digest actual = hasher_->Finish();
  hasher_.reset();
  if (actual != expected) {
    return Fail(ErrorCode::kDigestInvalid, "the uploaded content has digest " + actual.str() +
                                               ", not " + expected.str() + " as the client said");
  }
  if (parts_.empty() || (parts_.size() == 1 && parts_[0].size == 0)) {
    // Everything is still here: written once, straight to its place.
    KEEP_TRY(driver_->Put(BlobKey(expected), buffer_));
  } else {
    KEEP_TRY(Flush());
    std::vector<std::string> keys;
    std::vector<std::uint64_t> sizes;
    for (const Part& p : parts_) {
      if (p.size == 0) continue;
      keys.push_back(area_ + OffsetName(p.offset));
      sizes.push_back(p.size);
    }
    KEEP_TRY(driver_->Assemble(BlobKey(expected), keys, sizes));
  }
  committed_ = true;
  if (tail_) {
    std::lock_guard lock(tail_->mu);
    tail_->committed_key = BlobKey(expected);
    tail_->bytes.clear();
  }
  if (!upload_id_.empty()) {
    driver_->NoteCommitted(upload_id_, BlobKey(expected));
    // Every key of the session goes, the part read back at resume too.
    parts_.clear();
    (void)driver_->RemoveArea(area_);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<BlobDriver>> OpenS3Driver(const S3DriverOptions& options) {
  if (options.part_size < (std::uint64_t{5} << 20)) {
    return Fail(ErrorCode::kInvalid, "storage.s3.part_size_mib must be at least 5");
  }
  auto client = OpenS3Client(options.s3);
  if (!client) return client.error();
  auto d = std::make_unique<S3Driver>(std::move(*client), options);
  KEEP_TRY(d->Init());
  return std::unique_ptr<BlobDriver>(std::move(d));
}

}  // namespace keep
