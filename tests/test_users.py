"""Users (faces grouped into a person), tags and regions, on each storage backend: the operations' behaviour and
errors, and identification of people enrolled from several photos (SearchUsersByImage with photos not enrolled)."""

import pytest
from tools.labelled import identity_photos

from tests.support.data import DATA, image_bytes

OBAMA, OBAMA2, OBAMA3 = "images/fr_obama.jpg", "images/fr_obama2.jpg", "images/fr_test_obama1.jpg"
BIDEN = "images/fr_biden.jpg"
TWO = "images/fr_two_people.jpg"  # Obama (left) and Biden (right)


@pytest.fixture(scope="module")
def uc(tmp_path_factory, backend, client):
    c = backend.client(home=str(tmp_path_factory.mktemp("users_home")))
    c.runtime.use_engine(client.engine)
    return c


_n = iter(range(10**6))


@pytest.fixture
def people(uc):
    """A collection with Obama's three photos and Biden's one indexed (FaceIds by name), no users yet."""
    name = f"people-{next(_n)}"
    uc.create_collection(CollectionId=name)
    ids = {}
    for rel in (OBAMA, OBAMA2, OBAMA3, BIDEN):
        resp = uc.index_faces(CollectionId=name, Image={"Bytes": image_bytes(rel)}, MaxFaces=1)
        ids[rel] = resp["FaceRecords"][0]["Face"]["FaceId"]
    yield name, ids
    uc.delete_collection(CollectionId=name)


@pytest.mark.data
def test_user_lifecycle(uc, people):
    name, ids = people
    assert uc.create_user(CollectionId=name, UserId="obama")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert uc.list_users(CollectionId=name)["Users"] == [{"UserId": "obama", "UserStatus": "CREATED"}]
    assert uc.describe_collection(CollectionId=name)["UserCount"] == 1
    with pytest.raises(uc.exceptions.ConflictException):
        uc.create_user(CollectionId=name, UserId="obama")
    # the same ClientRequestToken is a retry of the same creation, not a conflict
    uc.create_user(CollectionId=name, UserId="biden", ClientRequestToken="t-1")
    uc.create_user(CollectionId=name, UserId="biden", ClientRequestToken="t-1")

    resp = uc.associate_faces(CollectionId=name, UserId="obama", FaceIds=[ids[OBAMA], ids[OBAMA2]])
    assert [f["FaceId"] for f in resp["AssociatedFaces"]] == [ids[OBAMA], ids[OBAMA2]]
    assert resp["UnsuccessfulFaceAssociations"] == [] and resp["UserStatus"] == "ACTIVE"
    listed = uc.list_faces(CollectionId=name, UserId="obama")["Faces"]
    assert {f["FaceId"] for f in listed} == {ids[OBAMA], ids[OBAMA2]} and all(f["UserId"] == "obama" for f in listed)

    # Biden's face does not match Obama's user; a missing face is reported, a face of another user too
    missing = "00000000-0000-4000-8000-000000000000"
    resp = uc.associate_faces(CollectionId=name, UserId="obama", FaceIds=[ids[BIDEN], missing, ids[OBAMA3]])
    assert [f["FaceId"] for f in resp["AssociatedFaces"]] == [ids[OBAMA3]]
    reasons = {f["FaceId"]: f for f in resp["UnsuccessfulFaceAssociations"]}
    assert reasons[ids[BIDEN]]["Reasons"] == ["LOW_MATCH_CONFIDENCE"] and reasons[ids[BIDEN]]["Confidence"] < 75
    assert reasons[missing]["Reasons"] == ["FACE_NOT_FOUND"]
    uc.associate_faces(CollectionId=name, UserId="biden", FaceIds=[ids[BIDEN]])
    resp = uc.associate_faces(CollectionId=name, UserId="obama", FaceIds=[ids[BIDEN]])
    assert resp["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    assert resp["UnsuccessfulFaceAssociations"][0]["UserId"] == "biden"

    resp = uc.disassociate_faces(CollectionId=name, UserId="obama", FaceIds=[ids[OBAMA3], ids[BIDEN]])
    assert resp["DisassociatedFaces"] == [{"FaceId": ids[OBAMA3]}]
    assert resp["UnsuccessfulFaceDisassociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    assert resp["UserStatus"] == "ACTIVE"

    uc.delete_user(CollectionId=name, UserId="obama")
    assert [u["UserId"] for u in uc.list_users(CollectionId=name)["Users"]] == ["biden"]
    assert "UserId" not in uc.list_faces(CollectionId=name, FaceIds=[ids[OBAMA]])["Faces"][0]
    assert uc.describe_collection(CollectionId=name)["FaceCount"] == 4  # the faces stay
    with pytest.raises(uc.exceptions.ResourceNotFoundException):
        uc.delete_user(CollectionId=name, UserId="obama")
    with pytest.raises(uc.exceptions.ResourceNotFoundException):
        uc.associate_faces(CollectionId=name, UserId="nobody", FaceIds=[ids[OBAMA]])


@pytest.mark.data
def test_search_users(uc, people):
    name, ids = people
    uc.create_user(CollectionId=name, UserId="obama")
    uc.create_user(CollectionId=name, UserId="biden")
    uc.associate_faces(CollectionId=name, UserId="obama", FaceIds=[ids[OBAMA], ids[OBAMA2]])
    uc.associate_faces(CollectionId=name, UserId="biden", FaceIds=[ids[BIDEN]])

    by_face = uc.search_users(CollectionId=name, FaceId=ids[OBAMA3])
    assert by_face["SearchedFace"] == {"FaceId": ids[OBAMA3]}
    assert [m["User"]["UserId"] for m in by_face["UserMatches"]] == ["obama"]
    assert by_face["UserMatches"][0]["Similarity"] >= 80 and by_face["UserMatches"][0]["User"]["UserStatus"] == "ACTIVE"
    by_user = uc.search_users(CollectionId=name, UserId="obama", UserMatchThreshold=0)
    assert by_user["SearchedUser"] == {"UserId": "obama"}
    assert [m["User"]["UserId"] for m in by_user["UserMatches"]] == ["biden"]  # itself left out
    assert by_user["UserMatches"][0]["Similarity"] < 80
    with pytest.raises(uc.exceptions.InvalidParameterException):
        uc.search_users(CollectionId=name)
    with pytest.raises(uc.exceptions.InvalidParameterException):
        uc.search_users(CollectionId=name, UserId="obama", FaceId=ids[OBAMA])

    two = uc.search_users_by_image(CollectionId=name, Image={"Bytes": image_bytes(TWO)})
    assert len(two["UnsearchedFaces"]) == 1 and "FACE_NOT_LARGEST" in two["UnsearchedFaces"][0]["Reasons"]
    assert "BoundingBox" in two["SearchedFace"]["FaceDetail"]
    assert [m["User"]["UserId"] for m in two["UserMatches"]] in (["obama"], ["biden"])


@pytest.mark.data
def test_user_errors(uc, people):
    name, ids = people
    with pytest.raises(uc.exceptions.InvalidParameterException):
        uc.create_user(CollectionId=name, UserId="bad id!")
    with pytest.raises(uc.exceptions.ResourceNotFoundException):
        uc.create_user(CollectionId="no-such-collection", UserId="x")
    uc.create_user(CollectionId=name, UserId="u")
    with pytest.raises(uc.exceptions.InvalidParameterException):
        uc.associate_faces(CollectionId=name, UserId="u", FaceIds=["not-a-face-id"])
    with pytest.raises(uc.exceptions.InvalidParameterException):
        uc.associate_faces(CollectionId=name, UserId="u", FaceIds=[ids[OBAMA]] * 101)
    with pytest.raises(uc.exceptions.InvalidParameterException):
        uc.search_users(CollectionId=name, UserId="u", MaxUsers=501)
    with pytest.raises(uc.exceptions.InvalidPaginationTokenException):
        uc.list_users(CollectionId=name, NextToken="1.AAAAAAAAAAAAAAAAAAAAAA")


def test_list_users_pages(uc):
    uc.create_collection(CollectionId="many-users")
    try:
        for i in range(7):
            uc.create_user(CollectionId="many-users", UserId=f"u{i}")
        pages = list(uc.get_paginator("list_users").paginate(CollectionId="many-users",
                                                               PaginationConfig={"PageSize": 3}))
        assert [len(p["Users"]) for p in pages] == [3, 3, 1]
        assert [u["UserId"] for p in pages for u in p["Users"]] == [f"u{i}" for i in range(7)]
    finally:
        uc.delete_collection(CollectionId="many-users")


def test_tags(uc):
    arn = uc.create_collection(CollectionId="tagged", Tags={"team": "door", "cost centre": "42"})["CollectionArn"]
    try:
        full = uc.describe_collection(CollectionId="tagged")["CollectionARN"]
        assert full == "arn:" + arn and full.startswith(f"arn:aws:rekognition:{uc.region}:000000000000:collection/")
        assert uc.list_tags_for_resource(ResourceArn=full)["Tags"] == {"team": "door", "cost centre": "42"}
        uc.tag_resource(ResourceArn=full, Tags={"team": "lobby", "env": "prod"})
        uc.untag_resource(ResourceArn=full, TagKeys=["cost centre", "absent"])
        assert uc.list_tags_for_resource(ResourceArn=full)["Tags"] == {"env": "prod", "team": "lobby"}
        with pytest.raises(uc.exceptions.InvalidParameterException):
            uc.tag_resource(ResourceArn=full, Tags={"aws:reserved": "x"})
        with pytest.raises(uc.exceptions.InvalidParameterException):
            uc.tag_resource(ResourceArn=full, Tags={"k": "<script>"})
        with pytest.raises(uc.exceptions.ServiceQuotaExceededException):
            uc.tag_resource(ResourceArn=full, Tags={f"k{i}": "v" for i in range(49)})
        with pytest.raises(uc.exceptions.ResourceNotFoundException):
            uc.list_tags_for_resource(ResourceArn=full.replace("tagged", "untagged"))
        with pytest.raises(uc.exceptions.ResourceNotFoundException):  # the same collection id in another region
            uc.list_tags_for_resource(ResourceArn=full.replace(uc.region, "eu-west-1"))
        with pytest.raises(uc.exceptions.InvalidParameterException):
            uc.list_tags_for_resource(ResourceArn="arn:aws:s3:::some-bucket-name")
    finally:
        uc.delete_collection(CollectionId="tagged")
    with pytest.raises(uc.exceptions.ResourceNotFoundException):
        uc.list_tags_for_resource(ResourceArn=full)


@pytest.mark.data
def test_regions_are_separate(uc):
    west = uc.for_region("us-west-2")
    uc.create_collection(CollectionId="same-name")
    west.create_collection(CollectionId="same-name")
    try:
        uc.index_faces(CollectionId="same-name", Image={"Bytes": image_bytes(OBAMA)})
        assert uc.describe_collection(CollectionId="same-name")["FaceCount"] == 1
        assert west.describe_collection(CollectionId="same-name")["FaceCount"] == 0
        assert ":us-west-2:" in west.describe_collection(CollectionId="same-name")["CollectionARN"]
        assert west.search_faces_by_image(CollectionId="same-name", Image={"Bytes": image_bytes(OBAMA2)})[
            "FaceMatches"] == []
        west.create_collection(CollectionId="west-only")
        assert "west-only" not in uc.list_collections()["CollectionIds"]
        with pytest.raises(uc.exceptions.ResourceNotFoundException):
            uc.describe_collection(CollectionId="west-only")
        west.delete_collection(CollectionId="west-only")
    finally:
        uc.delete_collection(CollectionId="same-name")
        west.delete_collection(CollectionId="same-name")


@pytest.mark.data
def test_users_identify_people_enrolled_from_several_photos(tmp_path, client):
    """Each person of the identity sets enrolled as a user from up to three photos; every other photo of them
    searched with SearchUsersByImage at the defaults (UserMatchThreshold 80). Prints top-1 and false matches.
    (An accuracy measurement: run once, on the default backend; the storage paths are tested on both.)"""
    import facelens

    rows = identity_photos(DATA)
    if len(rows) < 50:
        pytest.skip("identity photos not available")
    uc = facelens.Client(home=str(tmp_path))
    uc.runtime.use_engine(client.engine)
    uc.create_collection(CollectionId="identities")
    enrolled, probes = {}, []
    for _split, name, rel, pick in rows:
        if pick != "largest":
            continue
        data = image_bytes(rel)
        user_id = "".join(ch if ch.isalnum() or ch in "_.-:" else "_" for ch in name)
        if len(enrolled.setdefault(user_id, [])) < 3:
            resp = uc.index_faces(CollectionId="identities", Image={"Bytes": data}, MaxFaces=1)
            enrolled[user_id].append(resp["FaceRecords"][0]["Face"]["FaceId"])
        else:
            probes.append((user_id, data))
    for user_id, face_ids in enrolled.items():
        uc.create_user(CollectionId="identities", UserId=user_id)
        assert len(uc.associate_faces(CollectionId="identities", UserId=user_id, FaceIds=face_ids,
                                      UserMatchThreshold=0)["AssociatedFaces"]) == len(face_ids)
    top1 = false = found = 0
    for user_id, data in probes:
        matches = uc.search_users_by_image(CollectionId="identities", Image={"Bytes": data})["UserMatches"]
        top1 += bool(matches) and matches[0]["User"]["UserId"] == user_id
        found += any(m["User"]["UserId"] == user_id for m in matches)
        false += sum(m["User"]["UserId"] != user_id for m in matches)
    pairs = len(probes) * (len(enrolled) - 1)
    print(f"\nSearchUsersByImage: {len(enrolled)} users, {len(probes)} probes: top-1 {top1 / len(probes):.3f}, "
          f"same person found {found / len(probes):.3f}, false matches {false}/{pairs} = {false / pairs:.4f}")
    uc.delete_collection(CollectionId="identities")
    assert len(probes) >= 30
    assert top1 / len(probes) >= 0.95 and false / pairs <= 0.01
