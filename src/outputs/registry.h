// The registry of output types: every [[outputs.<type>]] pythond knows, what it is, whether it
// sits behind a disk queue, how its Sender is made and where its annotated sample config is.
// config::OutputTypes() lists the same names for validation (a unit test keeps them equal).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "outputs/sender.h"

namespace pythond::outputs {

struct OutputType {
  std::string_view type;
  std::string_view summary;
  bool remote;  // leaves the machine: a disk queue and a forwarder (QueuedOutput) with a Sender
  // Null for local outputs. Returns null and sets *error when the options do not work.
  std::unique_ptr<Sender> (*make_sender)(const config::OutputConfig&, std::string* error);
  std::string_view sample;  // the annotated sample config, relative to the repository
};

const std::vector<OutputType>& OutputRegistry();
const OutputType* FindOutputType(std::string_view type);

}  // namespace pythond::outputs
