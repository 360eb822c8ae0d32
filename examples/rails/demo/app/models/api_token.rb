# frozen_string_literal: true

# ApiToken is a bearer token, stored as its SHA-256 only.
class ApiToken < ApplicationRecord
  belongs_to :user

  def self.digest(token)
    Digest::SHA256.hexdigest(token)
  end

  # find_by_token is the token's record, or nil.
  def self.find_by_token(token)
    find_by(token_digest: digest(token))
  end

  # user_for is the user holding token, or nil.
  def self.user_for(token)
    find_by_token(token)&.user
  end

  # issue stores token (a new random one when nil) for user and returns it.
  def self.issue(user, token = nil)
    token ||= "tok-#{SecureRandom.urlsafe_base64(24)}"
    create!(user: user, token_digest: digest(token))
    token
  end
end
