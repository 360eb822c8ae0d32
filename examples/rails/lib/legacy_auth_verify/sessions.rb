# frozen_string_literal: true

module LegacyAuthVerify
  # Sessions is server-side tracking of cookie sessions. A cookie-store
  # session lives entirely in the client's cookie, so "logout" cannot stop
  # a copy of it; with tracking, the session holds a random id whose
  # SHA-256 is a row of legacy_auth_verify_sessions, and the verify endpoint
  # accepts the session only while that row exists. Ending a session
  # deletes the row: the replayed cookie answers 401.
  module Sessions
    # KEY is the session key holding the tracked session id.
    KEY = "legacy_auth_sid"

    module_function

    # start creates a tracked session for user_id and stores its id in
    # session. Returns the id.
    def start(session, user_id)
      sid = SecureRandom.urlsafe_base64(32)
      TrackedSession.create!(sid_digest: digest(sid), user_id: user_id.to_s)
      session[KEY] = sid
      sid
    end

    # user_id is the user id of session's tracked session, or nil when the
    # session has none or it was ended.
    def user_id(session)
      sid = session[KEY]
      return nil unless sid.is_a?(String) && !sid.empty?

      TrackedSession.where(sid_digest: digest(sid)).pick(:user_id)
    end

    # finish ends session's tracked session and removes its id from
    # session. Returns the user id it belonged to, or nil.
    def finish(session)
      sid = session.delete(KEY)
      return nil unless sid.is_a?(String) && !sid.empty?

      record = TrackedSession.find_by(sid_digest: digest(sid))
      return nil unless record

      record.destroy!
      record.user_id
    end

    # finish_all ends every tracked session of user_id ("log out
    # everywhere"). Returns how many it ended.
    def finish_all(user_id)
      TrackedSession.where(user_id: user_id.to_s).delete_all
    end

    # digest: the table holds hashes, so a database leak yields no usable
    # session id.
    def digest(sid)
      Digest::SHA256.hexdigest(sid)
    end
  end
end
