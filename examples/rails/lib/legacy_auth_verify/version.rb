# frozen_string_literal: true

module LegacyAuthVerify
  VERSION = "0.1.0"
end
