"""Thai names, with their romanisations, that synthetic field agents are
given: common ones, and the Malay Muslim names of the deep south."""

from __future__ import annotations


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """Read ``"ไทย Roman"`` lines into (Thai, romanised) pairs."""
    pairs = []
    for line in text.strip().splitlines():
        thai, roman = line.split()
        pairs.append((thai, roman))
    return tuple(pairs)


MALE_FIRST_NAMES = _pairs("""
สมชาย Somchai
สมศักดิ์ Somsak
สมพงษ์ Sompong
ประเสริฐ Prasert
วิชัย Wichai
สุรชัย Surachai
ธนากร Thanakorn
ณัฐพล Nattaphon
กิตติพงษ์ Kittipong
อนุชา Anucha
ชัยวัฒน์ Chaiwat
ธีรวัฒน์ Theerawat
พงศกร Phongsakorn
ศุภชัย Supachai
วีระพงษ์ Weerapong
เกียรติศักดิ์ Kiattisak
อภิชาติ Aphichat
ปิยะพงษ์ Piyapong
สุริยา Suriya
ณรงค์ Narong
บุญมี Boonmee
บุญเลิศ Boonlert
ทองดี Thongdee
สมบัติ Sombat
เอกชัย Ekkachai
ภานุวัฒน์ Phanuwat
จักรพันธ์ Jakkaphan
ธนพล Thanaphon
วรวุฒิ Worawut
นพดล Noppadon
ไพโรจน์ Pairoj
สุทธิพงษ์ Sutthipong
อาทิตย์ Athit
ชยพล Chayaphon
ศักดิ์ชัย Sakchai
มานพ Manop
ปรีชา Preecha
วัชระ Watchara
อดิศักดิ์ Adisak
กฤษดา Kritsada
สิทธิชัย Sitthichai
ยุทธนา Yutthana
อำนาจ Amnat
เฉลิมชัย Chaloemchai
ธวัชชัย Thawatchai
รัฐพล Rattaphon
ปัณณวัฒน์ Pannawat
ธีรภัทร Teerapat
ภูมิพัฒน์ Phumiphat
""")

FEMALE_FIRST_NAMES = _pairs("""
สมศรี Somsri
สุดารัตน์ Sudarat
วันเพ็ญ Wanphen
มาลี Malee
กาญจนา Kanchana
ศิริพร Siriporn
สุภาพร Supaporn
นภาพร Napaporn
พรทิพย์ Porntip
อรุณี Arunee
ปิยะนุช Piyanuch
จันทร์เพ็ญ Chanphen
รัตนา Rattana
ดวงใจ Duangjai
วิไลวรรณ Wilaiwan
เพ็ญศรี Phensri
ณัฐธิดา Natthida
ปวีณา Paweena
กนกวรรณ Kanokwan
อรอุมา Onuma
ชุติมา Chutima
จิราพร Jiraporn
ศศิธร Sasithorn
พิมพ์ชนก Phimchanok
ธิดารัตน์ Thidarat
นิภาพร Nipaporn
สายสุนีย์ Saisunee
บุษบา Budsaba
ลำดวน Lamduan
ทองใบ Thongbai
อัมพร Amporn
ยุพิน Yupin
วาสนา Wasana
สุนันทา Sunantha
เยาวลักษณ์ Yaowalak
ประภาพร Praphaporn
อัญชลี Anchalee
กมลชนก Kamonchanok
ปาริชาต Parichat
ณัฐวดี Nattawadee
รุ่งนภา Rungnapa
พัชรินทร์ Patcharin
สุกัญญา Sukanya
เบญจวรรณ Benjawan
จุฑามาศ Chuthamat
""")

SURNAMES = _pairs("""
ศรีสุข Srisuk
วงศ์ใหญ่ Wongyai
แก้วมณี Kaewmanee
ใจดี Jaidee
สุขสวัสดิ์ Suksawat
ทองคำ Thongkham
บุญมา Boonma
ศรีวงศ์ Sriwong
แสงทอง Saengthong
พรหมมา Phromma
จันทร์แก้ว Chankaew
สมบูรณ์ Somboon
ประเสริฐศักดิ์ Prasertsak
วงศ์สวัสดิ์ Wongsawat
รุ่งเรือง Rungruang
มีสุข Meesuk
ทองดี Thongdee
ศรีทอง Srithong
บุญเรือง Boonruang
แก้วประเสริฐ Kaewprasert
พึ่งบุญ Phuengboon
เพชรรัตน์ Phetcharat
สุวรรณรัตน์ Suwannarat
ชัยมงคล Chaimongkol
อินทร์แก้ว Inkaew
นาคสุข Naksuk
ภูมิสวัสดิ์ Phumisawat
ศักดิ์สิทธิ์ Saksit
เจริญสุข Charoensuk
เจริญผล Charoenphon
รัตนพันธ์ Rattanaphan
ธนสาร Thanasan
ศรีประเสริฐ Sriprasert
ทองมา Thongma
คำแก้ว Khamkaew
คำภา Khampha
ศรีบุญเรือง Sriboonruang
พันธุ์ดี Phandee
ปัญญาดี Panyadee
บุญประเสริฐ Boonprasert
สายทอง Saithong
นาคประเสริฐ Nakprasert
ยอดเพชร Yodphet
วิเศษศักดิ์ Wisetsak
กิตติวงศ์ Kittiwong
สิทธิโชค Sitthichok
ชูเกียรติ Chukiat
เรืองศรี Ruangsri
มณีรัตน์ Maneerat
จันทร์หอม Chanhom
อ่อนศรี Onsri
ศรีสมบูรณ์ Srisomboon
หอมจันทร์ Homchan
พรมสุวรรณ Promsuwan
แสนสุข Saensuk
แสนทวีสุข Saenthaweesuk
ทวีศักดิ์ Thaweesak
วงศ์คำ Wongkham
ไชยวงศ์ Chaiwong
อุดมสุข Udomsuk
อุดมศักดิ์ Udomsak
สมปอง Sompong
ภักดี Phakdee
เกตุแก้ว Ketkaew
บัวทอง Buathong
บัวแก้ว Buakaew
ดวงแก้ว Duangkaew
ดวงดี Duangdee
แก้วกาญจนา Kaewkanchana
สุขประเสริฐ Sukprasert
มหาวงศ์ Mahawong
ศรีสวัสดิ์ Srisawat
นิลสุวรรณ Nilsuwan
ทองสุข Thongsuk
ศรีเมือง Srimuang
เมืองแก้ว Muangkaew
คงเจริญ Khongcharoen
คงสวัสดิ์ Khongsawat
ปานทอง Panthong
ปิ่นทอง Pinthong
นาคเจริญ Nakcharoen
สว่างศรี Sawangsri
ศรีอ่อน Sri-on
ยิ้มแย้ม Yimyaem
รักษ์ไทย Rakthai
ชื่นชม Chuenchom
อินทร์ทอง Inthong
อินทรวงศ์ Intharawong
พลายงาม Phlai-ngam
บุญยืน Boonyuen
สุขเกษม Sukkasem
เกษมสุข Kasemsuk
วัฒนชัย Watthanachai
วัฒนศิริ Watthanasiri
ศิริวัฒน์ Siriwat
ศิริมงคล Sirimongkol
มงคลชัย Mongkolchai
ชัยประเสริฐ Chaiprasert
ชัยศรี Chaisri
ทองประเสริฐ Thongprasert
เพ็ชรสุวรรณ Phetsuwan
พุ่มพวง Phumphuang
ลือชา Luecha
แก่นจันทร์ Kaenchan
คำมูล Khammun
คำปัน Khampan
ปัญญาวงศ์ Panyawong
อินต๊ะ Inta
จันทร์ตา Chanta
ใจมา Jaima
กันทา Kantha
ศรีวิชัย Sriwichai
ทาหอม Thahom
ภูผา Phupha
ภูมิภักดิ์ Phumiphak
ศรีละคร Srilakhon
สุวรรณศรี Suwannasri
จำปาทอง Champathong
บุญศรี Boonsri
แสงสว่าง Saengsawang
โพธิ์ทอง Phothong
โพธิ์ศรี Phosri
บุญชู Boonchu
ขาวสะอาด Khaosaat
เทพนิมิตร Thepnimit
ธรรมรักษ์ Thammarak
สิทธิวงศ์ Sitthiwong
รัตนวงศ์ Rattanawong
เพชรสุข Phetsuk
นิ่มนวล Nimnuan
จิตรดี Chitdee
วิเศษสุวรรณ Wisetsuwan
""")

# Malay Muslim names, common in the deep south and Satun.
SOUTHERN_MALE_FIRST_NAMES = _pairs("""
อับดุลเลาะ Abdullah
มูหะมัด Muhammad
อิสมาแอ Ismae
ซูไฮมี Suhaimi
รอมฎอน Romadon
อิบรอเฮ็ม Ibrohem
ซุลกิฟลี Zulkifli
ฮาซัน Hasan
""")

SOUTHERN_FEMALE_FIRST_NAMES = _pairs("""
นูรีดา Nurida
ฟาตีเมาะ Fatimoh
ซารีฟะห์ Sarifah
รอฮานี Rohanee
อัสมะ Asma
ไซนับ Sainab
นูรฮายาตี Nurhayatee
""")

SOUTHERN_SURNAMES = _pairs("""
สาและ Salae
ดอเลาะ Doloh
เจ๊ะเต๊ะ Chehteh
หะยีสาแม Hayeesamae
ยูโซะ Yusoh
บินอาแว Bin-awae
มะเซ็ง Maseng
กาเดร์ Kadae
อาแวบือซา Awaebuesa
ลาเต๊ะ Lateh
สะมะแอ Samae-ae
หะยีมะ Hayeema
แวนาแว Waenawae
อาลี Ali
ปูเตะ Puteh
""")

# Share of agents with a Malay Muslim name, by province.
SOUTHERN_NAME_SHARE = {
    "TH-94": 0.8,
    "TH-95": 0.65,
    "TH-96": 0.85,
    "TH-91": 0.6,
    "TH-90": 0.25,
}
