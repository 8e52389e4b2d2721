"""Object stores that S3Object images and videos are read from."""
