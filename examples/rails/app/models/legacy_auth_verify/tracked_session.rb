# frozen_string_literal: true

module LegacyAuthVerify
  # TrackedSession is one live cookie session (see Sessions): the SHA-256
  # of its random id and the user it belongs to.
  class TrackedSession < ActiveRecord::Base
    self.table_name = "legacy_auth_verify_sessions"
  end
end
