// The point checker: repairs (or refuses) a decoded point the way DataKit does before it feeds
// the point on. Pure functions; thread-safe (the only shared state is a thread_local scratch
// buffer).
//
// Rules (1-14 and 16 in the order they run), each with where it comes from. "cliutils" is the
// `point` package of GuanceCloud/cliutils (check.go: checker.checkMeasurement / checkKVs / checkTag
// / checkField / keyDisabled / keyMiss; option.go: newCfg defaults and Default*Options). "apis.md"
// is DataKit's internal/export/doc/en/apis.md, section "DataKit Data Structure Constraints"
// (#point-limitation). "PtCatOption" is DataKit's pipeline utils.PtCatOption, which maps each
// category to its cliutils options.
//
//  1. Empty measurement -> "__default" (cliutils checkMeasurement, DefaultMeasurementName;
//     apis.md rule 1).
//  2. Measurement longer than max_measurement_len (1024) -> truncated (cliutils checkMeasurement,
//     newCfg maxMeasurementLen). cliutils cuts at a byte; we never split a UTF-8 sequence (ours).
//  3. More than max_tags (256) tags / max_fields (1024) fields -> the extra ones dropped, before
//     any other key check (cliutils checkKVs TrimTags/TrimFields; apis.md rules 8-9). cliutils
//     keeps the first N of its key-sorted list; we keep the first N in wire order (ours).
//  4. A key repeated within the tags or within the fields: the first position keeps the last
//     value (the same merge as KeepLastOfDuplicates in point.h and our parsers; apis.md rule 7
//     calls the outcome undefined; ours).
//  5. A key that is both a tag and a field: the field is dropped, the tag kept. apis.md rule 6
//     calls the outcome undefined; cliutils' current keyConflict drops both, its older checker
//     (checkTagFieldSameKey) dropped the field. We follow the older, explicit rule (ours).
//  6. Tag keys, in cliutils checkTag order: (a) longer than max_tag_key_len (256) -> truncated;
//     (b) trailing '\' removed and '\n' replaced with ' ' (cliutils adjustKV); (c) '.' replaced
//     with '_' unless the category allows dots. A renamed key that equals a key already on the
//     point (tag or field) drops the renamed tag ("exist after truncate/adjust" in cliutils).
//  7. Field keys, in cliutils checkField order: (a) truncate to max_field_key_len (256); (b) '.'
//     -> '_' unless allowed; (c) trailing '\' removed and '\n' -> ' '. Same conflict rule.
//  8. A key left empty, or one the category disables, drops its tag/field (cliutils keyDisabled;
//     disabledKeys: logging "source" and "date", object and custom_object "class" and "date").
//  9. Tag values: trailing '\' removed and '\n' -> ' ' (cliutils adjustKV), then truncated to
//     max_tag_value_len (1024) (cliutils checkTag; apis.md rule 11); never splitting UTF-8 (ours).
// 10. With CheckLimits::strings_in_metrics = false (DataKit's behaviour; pythond's default is
//     true), String and Bytes field values on metric points are dropped (cliutils
//     DefaultMetricOptions WithStrField(false); apis.md rule 2). Arrays are kept.
// 11. String/Bytes field values longer than max_field_value_len (32 MiB) are truncated (cliutils
//     checkField; apis.md rule 12); strings never split UTF-8 (ours), Bytes cut at a byte.
// 12. Float +Inf -> 18446744073709551615.0 (float64(MaxUint64)) and -Inf -> -9223372036854775808.0
//     (float64(MinInt64)) (cliutils checkField, WarnInfConvertToMaxValue). The field is kept.
// 13. Float NaN: the field is dropped. Not in the cliutils checker; ours (InfluxDB's
//     models.NewPoint, which cliutils uses to write line protocol, refuses NaN anyway). Arrays: a
//     NaN element drops the field, Inf elements are converted as in rule 12 (ours; cliutils skips
//     arrays).
// 14. Required keys: a logging point with no tag or field "status" gets the string field
//     status="unknown"; object and custom_object points with no "name" get name="default"
//     (cliutils keyMiss, requiredKeys, defaultLoggingStatus/defaultObjectName; apis.md rules 4-5;
//     cliutils adds them with NewKV, i.e. as fields). Runs after rules 1-13.
// 15. Dots in keys (rules 6c/7b) are allowed only for metric points: logging uses
//     DefaultLoggingOptions, object/custom_object DefaultObjectOptions, keyevent/rum/network/
//     security CommonLoggingOptions, all WithDotInKey(false) (PtCatOption; apis.md rule 3).
//     keyevent has no required or disabled keys in cliutils (requiredKeys has only logging and
//     object): none found, none added.
// 16. A point left with no field is refused. The cliutils checker never refuses (line protocol
//     without fields fails to parse, and an empty point cannot be encoded later); ours.
//  *  uint64 values are kept (cliutils newCfg enableU64Field = true). A limit of 0 means "no
//     limit", as in cliutils (`max > 0 &&`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/point.h"

namespace pythond::model {

// One per kind of repair or refusal. Names (CheckReasonName) are stable: they label metrics.
enum class CheckReason : uint8_t {
  kEmptyMeasurement,        // "empty_measurement": set to "__default"
  kMeasurementTooLong,      // "measurement_too_long": truncated
  kTooManyTags,             // "too_many_tags": extra tags dropped
  kTooManyFields,           // "too_many_fields": extra fields dropped
  kDuplicateKey,            // "duplicate_key": repeated tag/field key merged, last value kept
  kTagFieldConflict,        // "tag_field_conflict": key both a tag and a field; field dropped
  kTagKeyTooLong,           // "tag_key_too_long": truncated
  kFieldKeyTooLong,         // "field_key_too_long": truncated
  kNewlineInKey,            // "newline_in_key": '\n' in a tag/field key replaced with ' '
  kTrailingBackslash,       // "trailing_backslash": trailing '\' removed from a key or tag value
  kDotInKey,                // "dot_in_key": '.' in a key replaced with '_'
  kKeyConflictAfterRename,  // "key_conflict_after_rename": repaired key already used; dropped
  kEmptyKey,                // "empty_key": tag/field with an empty key dropped
  kDisabledKey,             // "disabled_key": key the category reserves; dropped
  kNewlineInTagValue,       // "newline_in_tag_value": '\n' replaced with ' '
  kTagValueTooLong,         // "tag_value_too_long": truncated
  kStringFieldInMetric,     // "string_field_in_metric": string/bytes field on a metric; dropped
  kFieldValueTooLong,       // "field_value_too_long": string/bytes value truncated
  kInfFloat,                // "inf_float": ±Inf replaced with DataKit's finite stand-ins
  kNanFloat,                // "nan_float": NaN field dropped
  kRequiredKeyAdded,        // "required_key_added": e.g. logging status="unknown"
  kNoFields,                // "no_fields": nothing left to store; point refused
  kCount,
};
inline constexpr size_t kCheckReasonCount = static_cast<size_t>(CheckReason::kCount);

std::string_view CheckReasonName(CheckReason reason);

// All limits, with DataKit's defaults (cliutils option.go newCfg). 0 means no limit.
struct CheckLimits {
  size_t max_tags = 256;
  size_t max_fields = 1024;
  size_t max_tag_key_len = 256;                   // bytes
  size_t max_field_key_len = 256;                 // bytes
  size_t max_tag_value_len = 1024;                // bytes
  size_t max_field_value_len = 32 * 1024 * 1024;  // bytes, String and Bytes values
  size_t max_measurement_len = 1024;              // bytes
  // Rule 10 is DataKit's, for its backend; pythond's store keeps string fields on metrics
  // (the seed's own MyTest reports "f3": "strval" as a metric). false = DataKit's behaviour.
  bool strings_in_metrics = true;
};

struct CheckWarning {
  CheckReason reason;
  std::string message;  // names the key, e.g. "tag key 'a.b' has '.', replaced with '_'"
};

struct CheckOutcome {
  bool refused = false;  // the point cannot be kept (see kNoFields)
  std::vector<CheckWarning> warnings;
};

// The values DataKit puts in place of ±Inf floats (rule 12).
inline constexpr double kPosInfReplacement = 18446744073709551615.0;  // float64(MaxUint64)
inline constexpr double kNegInfReplacement = -9223372036854775808.0;  // float64(MinInt64)

// Repairs `point` in place according to DataKit's rules for `category` (rules above).
// `refused` = the point cannot be kept. A point that needs no repair costs one scan and no
// allocation.
CheckOutcome CheckPoint(Category category, Point& point, const CheckLimits& limits);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end inside a UTF-8
// sequence (returns its length). Bytes that are not valid UTF-8 are cut like any byte.
size_t Utf8PrefixLength(std::string_view s, size_t max_bytes);

}  // namespace pythond::model
