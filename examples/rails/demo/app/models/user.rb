# frozen_string_literal: true

require "openssl"

# User is a demo account. Passwords are PBKDF2-SHA256 with a per-user salt
# (bcrypt, has_secure_password's gem, is not packaged with Debian's Rails).
class User < ApplicationRecord
  has_many :api_tokens, dependent: :delete_all

  ITERATIONS = 10_000

  # authenticate is the user named username when password is theirs.
  def self.authenticate(username, password)
    user = find_by(username: username.to_s)
    user if user&.password_matches?(password.to_s)
  end

  def password=(password)
    self.password_salt = SecureRandom.hex(16)
    self.password_digest = digest(password)
  end

  def password_matches?(password)
    ActiveSupport::SecurityUtils.secure_compare(digest(password), password_digest.to_s)
  end

  # role_names are the space-separated roles column as an array.
  def role_names
    roles.to_s.split
  end

  private

  def digest(password)
    OpenSSL::KDF.pbkdf2_hmac(password, salt: password_salt, iterations: ITERATIONS, length: 32,
                                       hash: "sha256").unpack1("H*")
  end
end
